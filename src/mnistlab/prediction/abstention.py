"""How well a run's "unsure" separates digits from things that are not digits, measured on real non-digits.

Every image goes through what ``mnistlab predict`` does (preparation as the run's dataset was prepared, the run's calibrated
probabilities and features): the test set's own images, the same images photographed (dark ink on
light paper, larger, off-centre, noisy: what a person's photo of their handwriting is, and what the
thresholds must keep answering), Fashion-MNIST's test images (MNIST's for a Fashion-MNIST run), letters rendered
from the machine's fonts as a person would write them (upper and lower case, several fonts, sizes,
positions and slants, dark ink on light paper, photographed with noise), and noise pictures.

Each check gives an "unsure" score, higher meaning less like a digit: 1 - confidence, 1 - margin, the
feature distance, and ``combined``, the largest of the three divided by its threshold, so that it is
at most 1 exactly when every check passes. For each score and non-digit set: the AUROC of telling
the two apart, and the share of non-digits still answered at the thresholds that keep 99% of the
true images answered. The run's own rule (its saved thresholds) is reported beside them, with its
accuracy on the true and photographed images it answers. Letter by letter, the same AUROC and
answers show which letters the run takes for its classes (a written O for a zero, an l for a one).
"""

from __future__ import annotations

import json
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from sklearn.metrics import roc_auc_score

from mnistlab.data.dataset import Dataset
from mnistlab.data.noise import noise
from mnistlab.errors import MnistlabError
from mnistlab.evaluation.risk_coverage import top_two
from mnistlab.prediction.predictor import Predictor
from mnistlab.tables import fixed

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
ABSTENTION_FILE = "abstention.json"  # the table of a run, kept in its folder by ``mnistlab abstention RUN``
KEEP_ANSWERED = 0.99  # thresholds that keep this share of the true images answered
CHECKS = ("confidence", "margin", "distance")
SCORES = (*CHECKS, "combined")
ALPHABET = string.ascii_uppercase + string.ascii_lowercase
LETTERS_SET = "letters (A-Z, a-z, machine fonts)"


def machine_fonts() -> list[Path]:
    fonts = sorted(p for d in FONT_DIRS if d.is_dir() for p in d.rglob("*") if p.suffix.lower() in (".ttf", ".otf"))
    if not fonts:
        raise MnistlabError(f"no TrueType fonts found in {', '.join(map(str, FONT_DIRS))}; install some (Debian: fonts-dejavu-core)")
    return fonts


def font_names(fonts: list[Path]) -> list[str]:
    """Each font's own name, family and style ("DejaVu Sans Bold"): what a letters set was drawn from, so that a table can be
    compared with one measured where other fonts are installed (Debian's chromium brings the Liberation fonts, say)."""
    return [" ".join(ImageFont.truetype(str(font), 12).getname()) for font in fonts]


def fonts_sentence(table: dict) -> str:
    """The fonts a table's letters were drawn from, by family ("" for a table measured before they were recorded)."""
    if not table.get("fonts"):
        return ""
    families = Counter(name.split()[0] for name in table["fonts"])
    return f"The letters are drawn from {len(table['fonts'])} fonts: " + ", ".join(f"{n} {family}" for family, n in sorted(families.items())) + "."


def photo_of(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A photo of ``digit`` (28x28, white on black) as a person takes one: inverted to dark ink, scaled up
    4-7x with smoothing, off-centre on paper of uneven brightness, with noise."""
    scale = rng.uniform(4, 7)
    side = int(28 * scale)
    ink = Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(1.2))
    width, height = int(side * rng.uniform(1.4, 2.0)), int(side * rng.uniform(1.2, 1.6))
    paper_level = rng.uniform(190, 240)
    gradient = np.linspace(-15, 15, width)[None, :] * rng.choice([-1, 1])
    paper = np.full((height, width), paper_level) + gradient
    left, top = rng.integers(0, width - side), rng.integers(0, height - side)
    darkness = np.asarray(ink, dtype=np.float64) / 255.0 * rng.uniform(0.7, 0.9) * paper_level
    paper[top : top + side, left : left + side] -= darkness
    paper += rng.normal(0, 6, paper.shape)
    return Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))


def letter_image(letter: str, font: Path, rng: np.random.Generator) -> Image.Image:
    """One letter as a photo of handwriting-sized ink on paper: random size, place, slant, blur and noise."""
    side = 160
    size = int(rng.integers(50, 120))
    ink = Image.new("L", (side, side), 0)
    ImageDraw.Draw(ink).text((side / 2 + rng.integers(-25, 26), side / 2 + rng.integers(-25, 26)), letter, fill=255,
                             font=ImageFont.truetype(str(font), size), anchor="mm")
    ink = ink.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.5))))
    paper = rng.uniform(190, 245) + rng.normal(0, 5, (side, side))
    photo = paper - np.asarray(ink, dtype=np.float64) / 255 * rng.uniform(0.6, 0.9) * paper
    return Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8))


def letter_sequence(count: int) -> list[str]:
    """The letters ``letters`` draws, in order: A-Z then a-z, over and over."""
    return [ALPHABET[i % len(ALPHABET)] for i in range(count)]


def letters(count: int, seed: int) -> list[Image.Image]:
    fonts = machine_fonts()
    rng = np.random.default_rng(seed)
    return [letter_image(letter, fonts[int(rng.integers(len(fonts)))], rng) for letter in letter_sequence(count)]


@dataclass(frozen=True)
class Scored:
    """One set's unsure scores per check (higher: less like a digit), the rule's answers (-1: unsure), as ``predict`` computes them."""

    scores: dict[str, np.ndarray]
    answers: np.ndarray

    @property
    def answered(self) -> np.ndarray:
        return self.answers >= 0


def score(predictor: Predictor, images: list[Image.Image]) -> Scored:
    probabilities, features, decisions = predictor.decide_prepared([predictor.prepare_one(image) for image in images])
    confidence, margin = top_two(probabilities)
    typicality = predictor.rule.typicality
    distance = typicality.distances(features) if typicality is not None else np.zeros(len(images))
    return Scored({"confidence": 1 - confidence, "margin": 1 - margin, "distance": distance},
                  np.array([-1 if d.unsure else d.label for d in decisions]))


def other_dataset(name: str) -> str:
    """The 28x28 dataset whose test images stand for "not this dataset": clothes for a digit model, digits for a clothes one."""
    return "mnist" if name == "fashion-mnist" else "fashion-mnist"


def measure(run_path: str | Path, dataset: Dataset, other: Dataset, images: int = 2000, seed: int = 0) -> dict:
    """The abstention table of a run on ``images`` of each set (see the module's docstring)."""
    predictor = Predictor(run_path)
    rng = np.random.default_rng(seed)
    true_index = rng.choice(len(dataset.x_test), min(images, len(dataset.x_test)), replace=False)
    labels = dataset.y_test[true_index]
    true_name, photos_name = f"{dataset.name} test images", "photos of the same images"
    sets = {
        true_name: [Image.fromarray(x) for x in dataset.x_test[true_index]],
        photos_name: [photo_of(x, rng) for x in dataset.x_test[true_index]],
        f"{other.name} test images": [Image.fromarray(x) for x in other.x_test[:images]],
        LETTERS_SET: letters(images, seed),
        "noise": [Image.fromarray(x) for x in noise(images, seed)],
    }
    scored = {name: score(predictor, pictures) for name, pictures in sets.items()}
    true_scores = scored[true_name].scores
    thresholds = {name: float(np.quantile(values, KEEP_ANSWERED)) for name, values in true_scores.items()}

    thresholds["combined"] = 1.0

    def with_combined(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {**scores, "combined": np.max([scores[name] / max(thresholds[name], 1e-12) for name in CHECKS], axis=0)}

    true_scores = with_combined(true_scores)
    rows = []
    for name, found in scored.items():
        scores, answered = with_combined(found.scores), found.answered
        row = {"set": name, "images": len(answered), "answered_by_rule": float(answered.mean())}
        for key in SCORES:
            row[f"answered_{key}"] = float((scores[key] <= thresholds[key]).mean())
            if name not in (true_name, photos_name):
                truth = np.concatenate([np.zeros(len(labels)), np.ones(len(answered))])
                row[f"auroc_{key}"] = float(roc_auc_score(truth, np.concatenate([true_scores[key], scores[key]])))
        if name in (true_name, photos_name):  # their classes are known: how often the answers given are right
            row["right_when_answered"] = float((found.answers == labels)[answered].mean()) if answered.any() else None
        rows.append(row)
    typicality = predictor.rule.typicality
    return {"keep_answered": KEEP_ANSWERED, "seed": seed, "distance_centred": predictor.rule.centred,
            "references": None if typicality is None else len(typicality.references), "thresholds_at_99": thresholds, "rows": rows,
            "letters": per_letter(true_scores, scored[LETTERS_SET], predictor.class_names), "fonts": font_names(machine_fonts())}


def per_letter(true_scores: dict[str, np.ndarray], scored: Scored, class_names: tuple[str, ...]) -> list[dict]:
    """For each letter drawn in the letters set: the AUROC of 1 - confidence and of the distance against the true images
    (``true_scores``), the share the run's rule answers, and the class it answers most often (None when it answers none)."""
    drawn = np.array(letter_sequence(len(scored.answers)))
    rows = []
    for letter in ALPHABET[: len(drawn)]:
        mine = drawn == letter
        answers = scored.answers[mine]
        truth = np.concatenate([np.zeros(len(true_scores["confidence"])), np.ones(int(mine.sum()))])
        given = answers[answers >= 0]
        rows.append({"letter": letter, "images": int(mine.sum()),
                     **{f"auroc_{key}": float(roc_auc_score(truth, np.concatenate([true_scores[key], scored.scores[key][mine]])))
                        for key in ("confidence", "distance")},
                     "answered_by_rule": float((answers >= 0).mean()),
                     "answered_as": class_names[int(np.bincount(given).argmax())] if len(given) else None})
    return rows


ABSTENTION_HEADERS = ["set", "n", *(f"AUROC {k}" for k in SCORES), *(f"answered, {k}" for k in SCORES), "answered, run's rule",
                      "right when answered"]


def abstention_caption(table: dict) -> str:
    """What ``measure``'s table shows, in the words every report of it uses."""
    centred = ", centred on the training images' mean," if table.get("distance_centred") else ""  # tables before centring have no key
    # tables before the references were the training images answered right have no count: they were the first 20,000
    references = f" of the first {table['references']} it answers right at its confidence threshold" if table.get("references") else "'s"
    return (f"AUROC of each unsure score against the true test images, and the share of each set answered at the thresholds that "
            f"keep {table['keep_answered']:.0%} of them answered ('distance': the cosine distance of its last hidden layer"
            f"{centred} to the nearest training image{references}; 'combined': every check at its threshold; the run's rule: its saved thresholds). "
            f"{table['rows'][1]['images']} images a set, seed {table['seed']}. {fonts_sentence(table)}").rstrip()


def abstention_rows(table: dict) -> list[list[str]]:
    """``measure``'s table as text cells under ABSTENTION_HEADERS."""
    return [[r["set"], str(r["images"]), *(fixed(r.get(f"auroc_{k}")) for k in SCORES), *(f"{r[f'answered_{k}']:.1%}" for k in SCORES),
             f"{r['answered_by_rule']:.1%}", "—" if r.get("right_when_answered") is None else f"{r['right_when_answered']:.2%}"]
            for r in table["rows"]]


LETTER_HEADERS = ["letter", "AUROC confidence", "AUROC distance", "answered, run's rule", "answered most as"]
LETTERS_CAPTION = "The letters it takes most for its classes."  # before hardest_letters' table, in the CLI and the run's report


def hardest_letters(table: dict, shown: int = 12) -> tuple[list[list[str]], str]:
    """The ``shown`` letters the run takes most for its classes (lowest AUROC first) as text cells under LETTER_HEADERS,
    and a sentence on the others."""
    ordered = sorted(table["letters"], key=lambda r: r["auroc_confidence"])
    rows = [[r["letter"], f"{r['auroc_confidence']:.4f}", fixed(r.get("auroc_distance")), f"{r['answered_by_rule']:.1%}", r["answered_as"] or "—"]
            for r in ordered[:shown]]  # tables measured before the distance's column have none
    rest = [r["auroc_confidence"] for r in ordered[shown:]]
    if not rest:
        return rows, ""
    return rows, f"The other {len(rest)} letters: AUROC of confidence {min(rest):.4f}–{max(rest):.4f}, median {np.median(rest):.4f}."


@dataclass(frozen=True)
class SavedAbstention:
    """The table ``mnistlab abstention RUN`` kept in the run's folder, as the reports show it."""

    caption: str
    rows: list[list[str]]  # under ABSTENTION_HEADERS
    letters: tuple[list[list[str]], str] | None  # ``hardest_letters``, when the table measured letters


def saved_abstention(run_path: Path) -> SavedAbstention | None:
    """The run's kept abstention table as text, or None before it has measured one; a damaged file is one line."""
    path = run_path / ABSTENTION_FILE
    if not path.is_file():
        return None
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        return SavedAbstention(abstention_caption(table), abstention_rows(table), hardest_letters(table) if "letters" in table else None)
    except (ValueError, TypeError, KeyError, IndexError) as exc:  # ValueError: bad JSON, or text where a number goes
        raise MnistlabError(f"{path} is damaged ({exc!r}); measure it again with `mnistlab abstention {run_path}`") from None
