"""The small real data sets shipped in `data/`, loaded with their checksums verified.

Each file in `data/` is listed in `data/SHA256SUMS`; `data/README.md` says where it came
from and under which licence.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from cs231n_utils.paths import MARKER, data_dir


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expected_checksums(folder: Path | None = None) -> dict[str, str]:
    """File name -> sha256 hex digest, as listed in data/SHA256SUMS."""
    folder = folder or data_dir()
    sums = {}
    for line in (folder / MARKER).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            sums[name.lstrip("*")] = digest
    return sums


def verified_path(name: str) -> Path:
    """The path of data/<name>, after checking it against data/SHA256SUMS.

    Raises FileNotFoundError when it is missing and ValueError when it has changed.
    """
    folder = data_dir()
    path = folder / name
    expected = expected_checksums(folder).get(name)
    if expected is None:
        raise ValueError(f"{name} is not listed in {folder / MARKER}")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; restore it with `git checkout data/`")
    actual = sha256(path)
    if actual != expected:
        raise ValueError(
            f"{path} is damaged or was modified (sha256 {actual[:12]}..., expected "
            f"{expected[:12]}...); restore it with `git checkout data/{name}`"
        )
    return path


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The UCI handwritten digits: 1797 grey 8x8 images of the digits 0-9.

    Returns images: float32 array of shape (1797, 8, 8), values in [0, 1];
            labels: int64 array of shape (1797,), values 0-9.
    """
    return _images_and_labels("digits.npz", 16.0)  # stored as counts 0..16


def load_mnist4k() -> tuple[np.ndarray, np.ndarray]:
    """4,000 MNIST handwritten digits, 400 of each digit 0-9, sorted by digit.

    Returns images: float32 array of shape (4000, 28, 28), values in [0, 1];
            labels: int64 array of shape (4000,), values 0-9.
    """
    return _images_and_labels("mnist4k.npz", 255.0)  # stored as uint8 0..255


def _images_and_labels(name: str, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """A verified data file's images as float32 in [0, 1] and its labels as int64."""
    with np.load(verified_path(name)) as archive:
        return archive["images"].astype(np.float32) / scale, archive["labels"].astype(np.int64)


def load_backbone() -> dict[str, np.ndarray]:
    """The convolutional backbone that data/train_backbone.py trained on the digits 0-4
    of data/mnist4k.npz.

    Returns a dict of float32 arrays in PyTorch's layout, keyed as in notebook 08's ConvNet:
    conv1.weight (16, 1, 3, 3), conv1.bias (16,), conv2.weight (32, 16, 3, 3), conv2.bias
    (32,); and mean, std: 0-d arrays, the pixel normalisation it was trained with (images in
    [0, 1] become (image - mean) / std).
    """
    with np.load(verified_path("convnet_backbone.npz")) as archive:
        return {name: archive[name] for name in archive.files}
