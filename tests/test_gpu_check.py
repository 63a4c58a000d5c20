"""benchmarks/gpu_check.py: the PyTorch notebooks run in one plain Python process, each cell
recorded, TensorFlow cells taken out with a reason, and the hardware figures reported. The
slow test runs it on this CPU as `make gpu-check` does on a GPU."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest

from autograder.course import REPO_ROOT, SOLUTIONS

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import gpu_cells  # noqa: E402
import gpu_check  # noqa: E402
import gpu_figures  # noqa: E402

SCRIPT = REPO_ROOT / "benchmarks" / "gpu_check.py"
# What the CPU computes in the notebooks, and what only a GPU does.
CPU_FIGURES = {
    "matmul_cpu_numpy_gflops", "matmul_cpu_torch_gflops", "cpu_peak_gflops_assumed",
    "matmul_cpu_fraction_of_peak", "copy_cpu_memory_gbps", "dataloader_images_per_s_workers_0",
    "dataloader_images_per_s_workers_2", "mlp_training_seconds",
    "convnet_cpu_float32_steps_per_s", "convnet_cpu_bfloat16_autocast_speedup",
    "convnet_epoch_seconds_cpu", "convnet_training_epoch_seconds",
}  # fmt: skip
GPU_FIGURES = set(gpu_figures.FIGURES) - CPU_FIGURES
MENTIONS_TF = re.compile(r"\b(tf|keras|tensorflow)")  # tf.constant, keras_convnet, ...


def notebook(tmp_path, *sources: str):
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# a title"}]
    cells += [{"cell_type": "code", "metadata": {}, "source": s, "outputs": [],
               "execution_count": None} for s in sources]  # fmt: skip
    path = tmp_path / "99_test.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))  # fmt: skip
    return path


def test_a_failing_cell_is_recorded_and_the_next_cell_runs(tmp_path):
    """Does a cell that raises leave its error and traceback (with the cell's own line) in
    the report, while the cells after it still run in the same namespace?"""
    path = notebook(
        tmp_path, "x = 20", "y = x + 1\nraise ValueError('boom')", "print(x + y)", "x * 2"
    )
    run = gpu_cells.run_notebook(path)
    assert [c.status for c in run.cells] == ["ran", "failed", "ran", "ran"]
    failed = run.cells[1]
    assert failed.index == 2 and failed.error == "ValueError: boom"
    assert "raise ValueError('boom')" in failed.traceback and "99_test cell 2" in failed.traceback
    assert run.cells[2].stdout == "41\n" and run.cells[3].stdout == "40\n"  # as Jupyter shows
    assert run.count("failed") == 1 and run.namespace["y"] == 21


def test_tensorflow_cells_are_taken_out_with_a_reason(tmp_path):
    """Is TensorFlow's import taken out of a setup cell that runs otherwise, a cell that
    needs TensorFlow (or a function that only such a cell defines) skipped with the names it
    needs, and a NumPy cell after them run?"""
    path = notebook(
        tmp_path,
        "import numpy as np\nimport tensorflow as tf\ntf.get_logger()\nready = True",
        "def to_tf(x):\n    return tf.constant(x)",
        "def to_np(x):\n    return np.ones(x)",
        "z = to_tf(1)",
        "total = {}\ntotal['tf'] = to_tf(2)\nprint(total)\nw = to_np(3).sum()",
    )
    run = gpu_cells.run_notebook(path)
    setup, tf_def, np_def, tf_call, mixed = run.cells
    assert setup.status == "trimmed" and setup.removed == [
        "import tensorflow as tf",
        "tf.get_logger()",
    ]
    assert run.namespace["ready"] is True and "tf" not in run.namespace
    assert tf_def.status == "skipped" and "needs tf" in tf_def.reason
    assert np_def.status == "ran" and tf_call.status == "skipped" and "to_tf" in tf_call.reason
    # the dict the removed statement would have filled is not printed half-filled
    assert mixed.status == "trimmed" and mixed.removed[-1] == "print(total)"
    assert run.namespace["w"] == 3 and run.count("failed") == 0


def test_ipython_lines_and_timeouts(tmp_path):
    """Are %magic and !shell lines removed (only where the cell is not Python with them),
    and is a cell that runs too long recorded as failed?"""
    path = notebook(
        tmp_path,
        "%matplotlib inline\n!ls\nx = 1",
        "s = '''\n!not a command\n'''",
        "import time\ntime.sleep(5)",
    )
    run = gpu_cells.run_notebook(path, cell_timeout=0.5)
    magic, text, slow = run.cells
    assert magic.status == "ran" and magic.removed == ["%matplotlib inline", "!ls"]
    assert text.removed == [] and run.namespace["s"] == "\n!not a command\n"
    assert slow.status == "failed" and slow.error.startswith("CellTimeout") and slow.seconds < 3


def test_tensorflow_is_made_absent():
    """After block_tensorflow, in a fresh process, do find_spec and import say TensorFlow and
    Keras are absent (as PyTorch's own probes expect), while their versions stay readable?"""
    code = (
        "import importlib.util, importlib.metadata, gpu_cells\n"
        "gpu_cells.block_tensorflow()\n"
        "assert importlib.util.find_spec('tensorflow') is None\n"
        "assert importlib.util.find_spec('keras') is None\n"
        "assert importlib.util.find_spec('numpy') is not None\n"
        "try:\n    import tensorflow\nexcept ModuleNotFoundError:\n    pass\n"
        "else:\n    raise SystemExit('imported')\n"
        "print(importlib.metadata.version('tensorflow-cpu'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT / "benchmarks",
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_figures_of_notebook_00():
    """Are GFLOP/s, the card's peak (matched by model) and copy bandwidth computed from the
    timings and printed lines, and is a card missing from CARDS a null with a note?"""
    cards = [("T4", 8.1, None, 65, "g4dn.xlarge", 0.526, 1), ("H100 SXM", 67, 495, 990, "", 1, 8)]
    ns = {"SIZES": [512, 1024], "numpy_seconds": [0.01, 2 * 1024**3 / 100e9],
          "torch_seconds": [1.0, 1.0], "cpu_peak": 200.0, "gpu_sizes": [4096],
          "gpu_seconds": [2 * 4096**3 / 33.5e12], "CARDS": cards}  # fmt: skip
    stdout = ("host -> device             16 MiB:   2.000 ms,    8.4 GB/s\n"
              "pinned host -> device       4 MiB:   0.250 ms,   16.8 GB/s\n")  # fmt: skip
    fig, notes, _ = gpu_figures.read_figures("00_hardware", ns, stdout, "NVIDIA H100 80GB HBM3")
    assert fig["matmul_cpu_numpy_gflops"] == pytest.approx(100.0)
    assert fig["matmul_gpu_gflops"] == pytest.approx(33_500.0)
    assert fig["gpu_fp32_peak_tflops"] == 67
    assert fig["matmul_gpu_fraction_of_fp32_peak"] == pytest.approx(0.5)
    assert fig["copy_host_to_device_gbps"] == pytest.approx(16 * 2**20 / 2e-3 / 1e9)
    assert fig["copy_pinned_host_to_device_gbps"] == pytest.approx(4 * 2**20 / 0.25e-3 / 1e9)
    assert "copy_cpu_memory_gbps" in notes
    fig, notes, _ = gpu_figures.read_figures("00_hardware", ns, stdout, "NVIDIA H200")
    assert "gpu_fp32_peak_tflops" not in fig and "H200" in notes["gpu_fp32_peak_tflops"]


def test_device_required_stops_before_running(tmp_path):
    """On this CPU machine, does --device-required cuda exit with status 2, say why, and run
    and write nothing?"""
    if "cuda" in subprocess.run([sys.executable, "-c", "import torch; print("
                                 "'cuda' if torch.cuda.is_available() else '')"],
                                capture_output=True, text=True).stdout:  # fmt: skip
        pytest.skip("this machine has CUDA")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--device-required", "cuda", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "--device-required cuda: cs231n_utils picked cpu" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_pytorch_notebooks_run_on_cpu(tmp_path):
    """Run as `make gpu-check` does, on this CPU: does every cell of 00 and 04-08 run (none
    failed), is nothing taken out of a cell that mentions no TensorFlow or Keras name, and
    does the report hold the machine, the device and a number for every figure the CPU
    computes (the GPU's figures null, with a note)?"""
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--threads", "1"],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    reports = list(tmp_path.glob("gpu_check_cpu_*.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(reports) == 1 and reports[0].with_suffix(".md").exists()
    report = json.loads(reports[0].read_text())
    assert {"created", "machine", "device", "notebooks", "hidden_tests"} <= set(report)
    assert {"hostname", "cpu", "torch", "gpu", "versions"} <= set(report["machine"])
    assert report["device"]["kind"] == "cpu" and report["machine"]["gpu"] is None
    assert list(report["notebooks"]) == list(gpu_check.PYTORCH_NOTEBOOKS)
    for name, nb in report["notebooks"].items():
        cells = nb["cells"]
        assert cells["failed"] == 0 and nb["failures"] == [], (name, nb["failures"])
        assert sum(cells[s] for s in gpu_check.STATUSES) == cells["code"] and nb["device"] == "cpu"
        sources = {i: s for i, _, s in gpu_cells.code_cells(SOLUTIONS / f"{name}.ipynb")}
        for changed in nb["changed"]:
            assert MENTIONS_TF.search(sources[changed["cell"]]), (name, changed)
    figures = {k: v for nb in report["notebooks"].values() for k, v in nb["figures"].items()}
    notes = {k: v for nb in report["notebooks"].values() for k, v in nb["figure_notes"].items()}
    for key in CPU_FIGURES:
        assert isinstance(figures.get(key), float) and math.isfinite(figures[key]), key
        assert figures[key] > 0, key
    for key in GPU_FIGURES:
        assert key not in figures and notes[key], key
    table = reports[0].with_suffix(".md").read_text()
    assert all(f"| {name} | cpu |" in table for name in gpu_check.PYTORCH_NOTEBOOKS)
