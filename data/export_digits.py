"""Export the handwritten digits that scikit-learn ships into data/digits.npz.

Run from the repository root with the developers' extras installed:
    .venv/bin/python data/export_digits.py
then update data/SHA256SUMS (the script prints the line). The file is committed; the
notebooks never need scikit-learn.
"""

import hashlib
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

OUT = Path(__file__).with_name("digits.npz")


def main() -> None:
    digits = load_digits()
    images = digits.images.astype(np.uint8)  # pixel counts 0..16, exact in uint8
    labels = digits.target.astype(np.uint8)
    assert np.array_equal(images, digits.images) and images.shape == (1797, 8, 8)
    # np.savez (uncompressed) writes no timestamps, so the bytes are reproducible.
    with open(OUT, "wb") as file:
        np.savez(file, images=images, labels=labels)
    print(f"{hashlib.sha256(OUT.read_bytes()).hexdigest()}  {OUT.name}")


if __name__ == "__main__":
    main()
