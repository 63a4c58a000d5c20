"""Notebook 08's ConvNet, computed by the grader: held-out accuracy of returned parameters.

`train_convnet` and `fine_tune` hand back the parameters they trained; this module runs the
course's network on them with NumPy, in the grader's process, on digits that no student file
holds (autograder/data/mnist_heldout.npz, read here and never shown to a kernel). The network,
for images (N, C, S, S): conv1 (3x3, padding 1) -> ReLU -> 2x2 max pool -> conv2 (3x3,
padding 1) -> ReLU -> 2x2 max pool -> flatten in (C, H, W) order -> head; parameters in
PyTorch's layout and in the order PARAMETERS names.

Trusted side: imports nothing that runs in the student's kernel.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

DATA = Path(__file__).resolve().parents[2] / "data"  # autograder/data
HELD_OUT = DATA / "mnist_heldout.npz"
PARAMETERS = (
    "conv1.weight",
    "conv1.bias",
    "conv2.weight",
    "conv2.bias",
    "head.weight",
    "head.bias",
)
CHUNK = 100  # images per forward pass: conv2's unfolded patches stay near 10 MB


class DataDamaged(RuntimeError):
    """The grader's held-out file is missing or not the one its checksum names."""


@functools.cache
def held_out_digits() -> tuple[np.ndarray, np.ndarray]:
    """The grader's 1,000 held-out MNIST digits, after checking their sha256.

    Returns images: float32 (1000, 28, 28) in [0, 1]; labels: int64 (1000,), 100 per digit.
    Raises DataDamaged when the file is missing or changed (a fault of the grader's copy).
    """
    sums = dict(
        reversed(line.split(maxsplit=1))
        for line in (DATA / "SHA256SUMS").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    if not HELD_OUT.is_file():
        raise DataDamaged(f"{HELD_OUT} is missing; restore it with `git checkout autograder/data`")
    if hashlib.sha256(HELD_OUT.read_bytes()).hexdigest() != sums.get(HELD_OUT.name):
        raise DataDamaged(f"{HELD_OUT} does not match autograder/data/SHA256SUMS")
    with np.load(HELD_OUT) as archive:
        return archive["images"].astype(np.float32) / 255, archive["labels"].astype(np.int64)


def _conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 3x3 convolution with padding 1: x (N, C, H, W), weight (F, C, 3, 3) -> (N, F, H, W)."""
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    patches = sliding_window_view(padded, (3, 3), axis=(2, 3))  # (N, C, H, W, 3, 3)
    out = np.tensordot(patches, weight, axes=([1, 4, 5], [1, 2, 3]))  # (N, H, W, F)
    return out.transpose(0, 3, 1, 2) + bias.reshape(1, -1, 1, 1)


def _relu_pool(x: np.ndarray) -> np.ndarray:
    """ReLU, then 2x2 max pooling with stride 2 (an odd last row or column is dropped)."""
    n, c, h, w = x.shape
    x = np.maximum(x[:, :, : h // 2 * 2, : w // 2 * 2], 0)
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def forward(params: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The logits (N, classes) of the network with `params` (in PARAMETERS' order, PyTorch's
    layout) on images x (N, C, S, S), in float32."""
    w1, b1, w2, b2, wh, bh = (np.asarray(p, dtype=np.float32) for p in params)
    parts = []
    for start in range(0, len(x), CHUNK):
        h = np.asarray(x[start : start + CHUNK], dtype=np.float32)
        h = _relu_pool(_conv3x3(h, w1, b1))
        h = _relu_pool(_conv3x3(h, w2, b2))
        parts.append(h.reshape(len(h), -1) @ wh.T + bh)
    return np.concatenate(parts) if parts else np.zeros((0, len(bh)), np.float32)


def held_out_accuracy(params: list[np.ndarray], mean: float, std: float, first: int) -> float:
    """The fraction of the held-out digits first .. first + classes - 1 (labelled 0 ..
    classes - 1) that the network classifies right, pixels normalised as (p - mean) / std."""
    images, labels = held_out_digits()
    classes = len(params[-1])
    keep = (labels >= first) & (labels < first + classes)
    x = ((images[keep] - np.float32(mean)) / np.float32(std))[:, None]
    predicted = forward(params, x).argmax(axis=1)
    return float(np.mean(predicted == labels[keep] - first))
