"""The built-in datasets: their files, checksums, download mirrors and class names."""

from __future__ import annotations

from dataclasses import dataclass



@dataclass(frozen=True)
class RemoteFile:
    """One canonical file: its name, and md5 / sha256 of the gzip'd bytes."""

    name: str
    md5: str
    sha256: str


@dataclass(frozen=True)
class IdxDatasetSpec:
    """A dataset published as four gzip'd IDX files."""

    name: str
    description: str
    train_images: RemoteFile
    train_labels: RemoteFile
    test_images: RemoteFile
    test_labels: RemoteFile
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[RemoteFile, ...]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


MNIST = IdxDatasetSpec(
    name="mnist",
    description="Handwritten digits, 60,000 train / 10,000 test, 28x28 (LeCun & Cortes, CC BY-SA 3.0)",
    train_images=RemoteFile(
        "train-images-idx3-ubyte.gz",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    train_labels=RemoteFile(
        "train-labels-idx1-ubyte.gz",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    test_images=RemoteFile(
        "t10k-images-idx3-ubyte.gz",
        "9fb629c4189551a2d022fa330f9573f3",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    test_labels=RemoteFile(
        "t10k-labels-idx1-ubyte.gz",
        "ec29112dd5afa0611ce80d1b7f02629c",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
    # The mirrors torchvision and tf.keras download from, in that order, then the original site.
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    class_names=tuple(str(d) for d in range(10)),
)

FASHION_MNIST = IdxDatasetSpec(
    name="fashion-mnist",
    description="Zalando clothing images, 60,000 train / 10,000 test, 28x28 (MIT)",
    train_images=RemoteFile(
        "train-images-idx3-ubyte.gz",
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    ),
    train_labels=RemoteFile(
        "train-labels-idx1-ubyte.gz",
        "25c81989df183df01b3e8a0aad5dffbe",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    ),
    test_images=RemoteFile(
        "t10k-images-idx3-ubyte.gz",
        "bef4ecab320f06d8554ea6380940ec79",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    ),
    test_labels=RemoteFile(
        "t10k-labels-idx1-ubyte.gz",
        "bb300cfdad3c16e7a12a480ee83cd310",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ),
    # tf.keras's mirror, then Zalando's own bucket.
    mirrors=(
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    # Debian's dataset-fashion-mnist package (same data, different gzip headers).
    system_dirs=("/usr/share/datasets/fashion-mnist",),
)

IDX_DATASETS: dict[str, IdxDatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}

DIGITS_DESCRIPTION = (
    "scikit-learn's bundled 8x8 digits (1,797 images, values 0-16), stratified 10% test holdout"
)

BUILTIN_NAMES = (*IDX_DATASETS, "digits")
HANDWRITTEN = ("mnist", "digits")  # pen strokes, not pictures: a photo's ink is made bilevel when prepared (prediction/prepare.py)
PICTURES = ("fashion-mnist",)  # things filling the frame, not glyphs in a 20-pixel box: prepared as Fashion-MNIST was (prediction/prepare.py)
