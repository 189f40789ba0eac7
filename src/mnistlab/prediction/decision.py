"""When to answer and when to say "unsure" (the Fashion notebook's exercise 6).

First the probabilities are calibrated: divided in log space by a temperature fitted on the
held-out validation split (``evaluation.calibration``; 1, untouched, for a run without one).
Then three checks, each with a default chosen from held-out data and stored in the run:

* confidence: the top probability must reach a threshold;
* margin: the top probability must beat the runner-up by a margin;
* typicality: the image's features (the last hidden layer, what the classifier reads) must lie
  near those of some training image: the cosine distance to the nearest of the training images'
  features (Sun et al., "Out-of-distribution detection with deep nearest neighbors", ICML 2022,
  with k = 1). Softmax confidence alone is often near 1 for things that are not digits at all (a
  letter "H" is a confident "4"); distance in feature space catches much of that. Measured on the
  best recipes' seed 0 against their validation images, it separates letters, clothes (digits for a
  clothes model) and noise better than the Mahalanobis distance to the class means it replaced,
  by AUROC in all nine cases. The features are either taken as they are or first centred on the
  training images' mean; ``choose_typicality`` keeps whichever answers the smaller share of the
  worst-answered kind of synthetic non-digit (scribbles, uniform noise, smooth blotches). Centring
  helped best-fashion, and hurt best-mnist-outliers (whose training pushes scribbles towards that
  mean) and the notebook CNN (it answered most uniform noise, while fewer scribbles);
  docs/accuracy.md's abstention tables measure the result on the test images. An ensemble's
  features are its members' side by side, one block each (``widths``): the distance is to the
  training image nearest by the members' mean cosine similarity, so no one member's blind spot
  decides alone.

The confidence and margin defaults are the smallest values at which the answered
predictions on the validation data make at most a quarter of the model's overall errors;
the distance default is the 99.5th percentile of the validation data's distances.

The references are the first training images the model itself classifies right at a calibrated
confidence of at least its threshold (``confidently_right``): up to REFERENCE_IMAGES of them, and
REFERENCE_VALUES numbers for a member with more than 256 features. An
image the model is unsure of makes a poor reference: in one best-mnist-outliers seed a single
scrawled 8 that its training had pushed towards the scribbles was the nearest training image of
1914 of 2000 Fashion-MNIST images, and with it among the references the check answered 94% of
them; it lay outside the first 20,000 training images, the references until then, by luck alone.
A guard more than a gain: paired on the same runs and docs/accuracy.md's letters, the distance's
AUROC against letters moved from 0.9397 to 0.9440 for a best-mnist-outliers ensemble and from
0.9351 to 0.9333 for a best-mnist one. Every training image the model answers right, rather than
the first of them, gave 0.9392 and 0.9324, for rule files 2.7 times as large. (The best-mnist
figures were taken with its first 40,000 such images, a count since capped at 20,000 as before.)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from mnistlab.atomic import write_json, write_with
from mnistlab.checks import is_number
from mnistlab.errors import MnistlabError
from mnistlab.evaluation.calibration import with_temperature
from mnistlab.evaluation.risk_coverage import answered_curve, top_two

ERROR_SHARE = 0.25  # answered predictions may make at most this share of the model's base error rate
DISTANCE_PERCENTILE = 99.5
REFERENCE_IMAGES = 20_000  # the most training images the typicality check keeps as references
REFERENCE_VALUES = REFERENCE_IMAGES * 256  # and the most numbers it keeps a member: 10 MB (a 5-member ensemble: 50)
RULE_FILE, STATS_FILE = "decision.json", "decision.safetensors"


@dataclass(frozen=True)
class Thresholds:
    confidence: float
    margin: float
    distance: float | None
    chosen_on: str = ""
    temperature: float = 1.0  # the probabilities' calibration; the thresholds apply to calibrated probabilities


@dataclass(frozen=True)
class Decision:
    """The answer (a class index) or None when unsure, with the reason."""

    label: int | None
    reason: str

    @property
    def unsure(self) -> bool:
        return self.label is None


def unit_blocks(features: np.ndarray, widths: tuple[int, ...]) -> np.ndarray:
    """Each row's blocks of ``widths`` columns (one per ensemble member) scaled to length 1/sqrt(blocks), so that a row is of
    length 1 and the dot product of two rows is the mean of their blocks' cosine similarities (a block of zeros stays
    zeros), in float32."""
    features = features.astype(np.float32)
    blocks = np.split(features, np.cumsum(widths)[:-1], axis=1)
    scale = np.sqrt(len(widths), dtype=np.float32)
    return np.concatenate([b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True) * scale, 1e-12) for b in blocks], axis=1)


@dataclass(frozen=True)
class Typicality:
    """The training images' features, centred on ``centre`` (zeros: as they are) and each block of ``widths`` columns then
    scaled by ``unit_blocks``, rounded to float16 as the rule file keeps them (half the file; the best recipes' distances
    move by < 3e-4) and held as float32, what the distances multiply."""

    references: np.ndarray  # (R, D) float32
    centre: np.ndarray  # (D,) float32
    widths: tuple[int, ...]  # the members' feature counts, summing to D: (D,) for one network

    @property
    def centred(self) -> bool:
        return bool(self.centre.any())

    def distances(self, features: np.ndarray) -> np.ndarray:
        """Cosine distance of each row of ``features`` (centred) to its nearest reference (0: the same direction; 2: opposite),
        averaged over the blocks."""
        if features.shape[1] != self.references.shape[1]:
            raise MnistlabError(f"the model gives {features.shape[1]} features, but the decision rule was made for "
                                f"{self.references.shape[1]}; an ONNX file exported before the rule: export it again "
                                "(`mnistlab export RUN --format onnx`), or recompute the rule (`mnistlab thresholds RUN`)")
        queries = unit_blocks(features - self.centre, self.widths)
        nearest = np.concatenate([(queries[i : i + 1024] @ self.references.T).max(axis=1) for i in range(0, len(queries), 1024)])
        return np.maximum(1.0 - nearest, 0.0)


def reference_count(widths: tuple[int, ...]) -> int:
    """How many training images the typicality check keeps for features in blocks of ``widths`` columns."""
    return max(1, min(REFERENCE_IMAGES, REFERENCE_VALUES // max(max(widths), 1)))


def fit_typicality(features: np.ndarray, centred: bool = False, widths: tuple[int, ...] | None = None) -> Typicality:
    """The references for the training images' ``features`` (blocks of ``widths`` columns; None: one block): the first
    ``reference_count`` of them, centred on their mean when ``centred``."""
    widths = widths or (features.shape[1],)
    kept = features[: reference_count(widths)].astype(np.float32)
    centre = kept.mean(axis=0) if centred else np.zeros(kept.shape[1], np.float32)
    rounded = (a.astype(np.float16).astype(np.float32) for a in (unit_blocks(kept - centre, widths), centre))
    return Typicality(*rounded, widths)


def answered_shares(typicality: Typicality, held_out: np.ndarray, outliers: list[np.ndarray]) -> list[float]:
    """For each set of ``outliers`` features, the share whose distance is within the threshold the held-out features set."""
    threshold = np.percentile(typicality.distances(held_out), DISTANCE_PERCENTILE)
    return [float((typicality.distances(found) <= threshold).mean()) for found in outliers]


def choose_typicality(training: np.ndarray, held_out: np.ndarray, outliers: list[np.ndarray],
                      widths: tuple[int, ...] | None = None) -> Typicality:
    """Of the check on the ``training`` features as they are and the one centred on their mean, the one whose thresholds on
    ``held_out`` answer the smaller worst share of the ``outliers`` sets (features of known non-digits); as they are on a tie."""
    checks = [fit_typicality(training, centred, widths) for centred in (False, True)]
    return min(checks, key=lambda check: max(answered_shares(check, held_out, outliers)))


def smallest_threshold(scores: np.ndarray, correct: np.ndarray, max_error: float) -> float:
    """The smallest threshold on ``scores`` whose answered set (score >= t) has error <= ``max_error``."""
    thresholds, _, accuracy = answered_curve(scores, correct)
    ok = np.flatnonzero(1 - accuracy <= max_error + 1e-12)
    if len(ok) == 0:
        return float(scores.max()) + 1e-6
    return float(thresholds[ok[-1]])


def choose_thresholds(probabilities: np.ndarray, labels: np.ndarray, chosen_on: str, temperature: float = 1.0) -> Thresholds:
    """The confidence and margin defaults from held-out predictions, already calibrated with ``temperature`` (see the module's
    docstring); no distance yet (``with_distance``)."""
    correct = probabilities.argmax(axis=1) == labels
    max_error = ERROR_SHARE * (1 - correct.mean())
    confidence, margin = top_two(probabilities)
    return Thresholds(
        confidence=smallest_threshold(confidence, correct, max_error),
        margin=smallest_threshold(margin, correct, max_error),
        distance=None,
        chosen_on=chosen_on,
        temperature=temperature,
    )


def with_distance(thresholds: Thresholds, distances: np.ndarray) -> Thresholds:
    """``thresholds`` with the distance default: the DISTANCE_PERCENTILE of the held-out images' ``distances``."""
    return replace(thresholds, distance=float(np.percentile(distances, DISTANCE_PERCENTILE)))


def confidently_right(probabilities: np.ndarray, labels: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """Which images of calibrated ``probabilities`` the model classifies right (``labels``) at a confidence of at least the
    threshold: the training images fit to be the typicality check's references."""
    return (probabilities.argmax(axis=1) == labels) & (probabilities.max(axis=1) >= thresholds.confidence)


@dataclass(frozen=True)
class DecisionRule:
    thresholds: Thresholds
    typicality: Typicality | None

    @property
    def centred(self) -> bool:
        """Whether the typicality check centres the features on the training images' mean."""
        return self.typicality is not None and self.typicality.centred

    def calibrated(self, probabilities: np.ndarray) -> np.ndarray:
        """The model's probabilities with the rule's temperature applied: what ``decide`` takes and predictions report."""
        return with_temperature(probabilities, self.thresholds.temperature)

    def decide(self, probabilities: np.ndarray, features: np.ndarray | None, blank: np.ndarray | None = None) -> list[Decision]:
        """One decision per row of calibrated ``probabilities``; ``blank`` marks images with no ink at all."""
        t = self.thresholds
        confidence, margin = top_two(probabilities)
        checked = self.typicality is not None and features is not None and t.distance is not None
        distances = self.typicality.distances(features) if checked else None
        decisions = []
        for i, label in enumerate(probabilities.argmax(axis=1)):
            if blank is not None and blank[i]:
                decisions.append(Decision(None, "no ink found"))
            elif confidence[i] < t.confidence:
                decisions.append(Decision(None, f"confidence {confidence[i]:.2f} < {t.confidence:.2f}"))
            elif margin[i] < t.margin:
                decisions.append(Decision(None, f"margin {margin[i]:.2f} < {t.margin:.2f}"))
            elif distances is not None and distances[i] > t.distance:
                decisions.append(Decision(None, f"unlike the training images (distance {distances[i]:.3f} > {t.distance:.3f})"))
            else:
                decisions.append(Decision(int(label), "confident"))
        return decisions

    def with_overrides(self, confidence: float | None = None, margin: float | None = None) -> "DecisionRule":
        t = self.thresholds
        return DecisionRule(
            Thresholds(t.confidence if confidence is None else confidence, t.margin if margin is None else margin, t.distance, t.chosen_on,
                       t.temperature),
            self.typicality,
        )


def save_rule(run_path: Path, rule: DecisionRule) -> None:
    """Write the rule's thresholds and, when it has a typicality check, its references; a rule without one removes the
    references an earlier rule left, so that they cannot be read back as this rule's."""
    if rule.typicality is None:
        (run_path / STATS_FILE).unlink(missing_ok=True)
    else:
        arrays = {name: getattr(rule.typicality, name).astype(np.float16) for name in ("references", "centre")}
        arrays["widths"] = np.array(rule.typicality.widths, np.int64)
        write_with(run_path / STATS_FILE, lambda tmp: save_file(arrays, str(tmp)))
    write_json(run_path / RULE_FILE, asdict(rule.thresholds))


def _checked(thresholds: Thresholds) -> Thresholds:
    """``thresholds`` as read from a file, if each holds what it should (numbers, the distance possibly null, a text)."""
    numbers = (thresholds.confidence, thresholds.margin, thresholds.temperature, 0.0 if thresholds.distance is None else thresholds.distance)
    if not all(is_number(n) for n in numbers) or not isinstance(thresholds.chosen_on, str):
        raise TypeError("a threshold or the temperature is not a number, or chosen_on is not a text")
    return thresholds


def load_rule(run_path: Path) -> DecisionRule:
    """The run's saved rule; a damaged file is one line naming the command that chooses it again."""
    path = run_path / RULE_FILE
    if not path.is_file():
        raise MnistlabError(f"{run_path} has no decision thresholds ({RULE_FILE}); compute them with `mnistlab thresholds {run_path}`")
    try:
        thresholds = _checked(Thresholds(**json.loads(path.read_text(encoding="utf-8"))))
    except (json.JSONDecodeError, TypeError) as exc:
        raise MnistlabError(f"{path} is damaged ({exc}); recompute it with `mnistlab thresholds {run_path}`") from None
    if thresholds.distance is None:  # a rule without a typicality check (references an older mnistlab left are not its own)
        return DecisionRule(thresholds, None)
    if not (run_path / STATS_FILE).is_file():
        raise MnistlabError(f"{run_path} has a distance threshold but no typicality references ({STATS_FILE}); "
                            f"recompute them with `mnistlab thresholds {run_path}`")
    try:
        arrays = load_file(str(run_path / STATS_FILE))
        references = arrays["references"]
        if references.ndim != 2:
            raise ValueError(f"references of shape {references.shape}, not (images, features)")
        centre = arrays.get("centre", np.zeros(references.shape[1], np.float16))  # a rule saved before centring: as they are
        if centre.shape != references.shape[1:]:
            raise ValueError(f"a centre of shape {centre.shape} for {references.shape[1]} features")
        widths = tuple(int(w) for w in arrays.get("widths", np.array(references.shape[1:])).reshape(-1))  # a rule saved before ensembles had blocks: one
        if sum(widths) != references.shape[1] or min(widths) < 1:
            raise ValueError(f"feature blocks of widths {widths} for {references.shape[1]} features")
        typicality = Typicality(references.astype(np.float32), centre.astype(np.float32), widths)
    except (SafetensorError, OSError, KeyError, ValueError) as exc:  # KeyError: an older mnistlab's statistics
        raise MnistlabError(f"{run_path / STATS_FILE} is damaged or from an older mnistlab ({exc!r}); "
                            f"recompute it with `mnistlab thresholds {run_path}`") from None
    return DecisionRule(thresholds, typicality)


def rule_damaged(run_path: Path) -> bool:
    """Whether the run's saved rule cannot be read (``load_rule`` says why)."""
    try:
        load_rule(run_path)
    except MnistlabError:
        return True
    return False
