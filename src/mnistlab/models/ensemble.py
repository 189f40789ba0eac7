"""``Ensemble``: several trained networks, and optionally shifted copies of each image (test-time
augmentation), answering as one network: the mean of their softmax outputs.

It keeps ``Network``'s face (``input_shape``, ``flat_input``, ``num_classes``, ``specs``,
``logits_and_features``, ``architecture``), so evaluation, prediction, serving and the ONNX export
take it as they take one network, and the export is one graph. Its "logits" are the log of the
mean probabilities, so a softmax of them gives that mean back. Its features are every member's
features of the unshifted image, side by side: the members' features are not aligned with each
other, so the typicality check compares each member's block with that member's own (``feature_widths``).

Test-time augmentation shows each network the image as it is and moved by one pixel up, down,
left and right (digits and clothes are centred by their datasets, so such small shifts keep them
what they are), and averages the answers: the same pictures ``mnistlab predict`` prepares, seen a
little off-centre, as training augmentation taught the network to read them. More views did not
read better: over the 3x3 grid of one-pixel shifts, or with two-pixel ones too, the best recipes' 5
seeds were no more accurate on their validation images (best-mnist 0.99660 and 0.99663 against
0.99667; best-fashion, with mirrors, 0.95147 over the grid against 0.95163).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mnistlab.errors import MnistlabError
from mnistlab.models.network import Network
from mnistlab.models.zoo import image_shape_for

# (rows, columns) each view moves the image by: itself, then one pixel down, up, right and left.
TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def shifted(images: torch.Tensor, rows: int, columns: int) -> torch.Tensor:
    """``images`` (N, C, H, W) moved by ``rows`` and ``columns`` pixels, with zeros (background) filling in."""
    if rows == columns == 0:
        return images
    height, width = images.shape[-2:]
    padded = F.pad(images, (max(columns, 0), max(-columns, 0), max(rows, 0), max(-rows, 0)))
    top, left = max(-rows, 0), max(-columns, 0)
    return padded[..., top : top + height, left : left + width]


class Ensemble(nn.Module):
    """The mean softmax of ``members`` (networks of one input shape and class count), over the TTA views when ``tta``
    (and their mirrors too when ``mirror``)."""

    def __init__(self, members: list[Network], tta: bool = False, mirror: bool = False) -> None:
        super().__init__()
        if not members:
            raise MnistlabError("an ensemble needs at least one member")
        first = members[0]
        for i, member in enumerate(members[1:], start=1):
            if member.input_shape != first.input_shape or member.num_classes != first.num_classes:
                raise MnistlabError(
                    f"member {i} takes input {member.input_shape} with {member.num_classes} classes, but member 0 takes "
                    f"{first.input_shape} with {first.num_classes}: an ensemble's members must read the same images"
                )
        self.members = nn.ModuleList(members)
        self.tta = tta
        self.mirror = tta and mirror
        self.input_shape = first.input_shape
        self.image_shape = image_shape_for(first.input_shape) if tta else None

    @property
    def num_classes(self) -> int:
        return self.members[0].num_classes

    @property
    def flat_input(self) -> bool:
        return self.members[0].flat_input

    @property
    def specs(self) -> list[dict]:
        """The first member's layers (every member reads the same input shape)."""
        return self.members[0].specs

    @property
    def architecture(self) -> dict:
        return {"input_shape": list(self.input_shape), "members": [m.architecture for m in self.members], "tta": self.tta,
                "mirror": self.mirror}

    @classmethod
    def from_architecture(cls, architecture: dict) -> "Ensemble":
        return cls([Network.from_architecture(m) for m in architecture["members"]], bool(architecture.get("tta", False)),
                   bool(architecture.get("mirror", False)))

    def views(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The images each member sees: ``x`` alone, or its TTA shifts and their mirrors (in ``x``'s own layout)."""
        if not self.tta:
            return [x]
        images = x.reshape(-1, 1, *self.image_shape) if self.flat_input else x  # -1: the export keeps the batch dynamic
        originals = [images, images.flip(-1)] if self.mirror else [images]
        return [shifted(image, r, c).reshape(x.shape) for image in originals for r, c in TTA_SHIFTS]

    @property
    def feature_widths(self) -> tuple[int, ...]:
        """How many features each member gives an image: the blocks of ``features``."""
        return tuple(width for member in self.members for width in member.feature_widths)

    def logits_and_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, classes) log mean probabilities and (B, D) the members' features of the unshifted images, side by side."""
        unshifted, *shifts = self.views(x)
        probabilities, features = [], []
        for member in self.members:
            logits, kept = member.logits_and_features(unshifted)
            features.append(kept.float())
            probabilities += [torch.softmax(out.float(), dim=1) for out in (logits, *(member(view) for view in shifts))]
        mean = torch.stack(probabilities).mean(0)
        # a class no member gives any chance stays finite
        return mean.clamp_min(torch.finfo(mean.dtype).tiny).log(), torch.cat(features, dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The features ``logits_and_features`` gives, without the other views' work."""
        return torch.cat([member.features(x).float() for member in self.members], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_and_features(x)[0]

    predict_proba = Network.predict_proba  # softmax of forward in large batches: the same for one network or several


def tta_network(network: Network | Ensemble, mirror: bool = False) -> Ensemble:
    """``network`` (one, or an ensemble) answering over the TTA views, mirrored too when ``mirror``."""
    members = list(network.members) if isinstance(network, Ensemble) else [network]
    return Ensemble(members, tta=True, mirror=mirror).eval()
