"""The checks hold under another NumPy: solution notebook 01 (NumPy only) and the helpers'
unit tests, run in a second environment that has NumPy OTHER_NUMPY from PyPI and everything
else from this one. No check compares with arrays pasted from one machine, so both pass; the
setup cell warns about the drift (a warning, not a failure)."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.course import REPO_ROOT, SOLUTIONS
from cs231n_utils import environment

OTHER_NUMPY = "2.3.5"  # an earlier release torch 2.13 and TensorFlow 2.21 both accept
UNIT_TESTS = [
    "tests/test_checks.py",
    "tests/test_gradcheck.py",
    "tests/test_seeding_timing.py",
    "tests/test_data_and_import.py",
]
NETWORK_ERRORS = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeout",
    "timed out",
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("numpy_drift")]


@pytest.fixture(scope="session")  # session: xdist may run other tests between its users
def other_env(tmp_path_factory):
    """A virtual environment whose own site-packages hold only NumPy OTHER_NUMPY and that
    then adds this environment's site-packages (torch, TensorFlow, cs231n_utils, ...)."""
    assert environment.release_series(OTHER_NUMPY) != environment.release_series(
        environment.TESTED["numpy"]
    ), "OTHER_NUMPY must be another release than the tested one"
    root = tmp_path_factory.mktemp("other-numpy")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--timeout", "20", "--retries", "1", f"numpy=={OTHER_NUMPY}"],
        capture_output=True, text=True,
    )  # fmt: skip
    if install.returncode != 0:
        output = install.stdout + install.stderr
        if any(sign in output for sign in NETWORK_ERRORS):
            pytest.skip(f"PyPI unreachable, cannot install numpy=={OTHER_NUMPY}: {output[-300:]}")
        pytest.fail(f"pip install numpy=={OTHER_NUMPY} failed:\n{output}")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # addsitedir also reads that folder's .pth files (the editable install of cs231n_utils)
    ours = sysconfig.get_paths()["purelib"]
    (venv / "lib" / site.split("/lib/", 1)[1] / "course.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n"
    )
    version = subprocess.run(
        [str(python), "-c", "import numpy, torch, tensorflow; print(numpy.__version__)"],
        capture_output=True, text=True, cwd=root,
    )  # fmt: skip
    assert version.stdout.strip() == OTHER_NUMPY, version.stderr[-2000:]
    return python


def test_solution_notebook_01_passes_under_another_numpy(other_env, tmp_path, monkeypatch):
    """Does every cell of solution notebook 01 run without error under the other NumPy, and
    does its setup cell report that NumPy and warn about the drift?"""
    kernels = tmp_path / "share" / "jupyter" / "kernels" / "other-numpy"
    kernels.mkdir(parents=True)
    spec = {
        "argv": [str(other_env), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"NumPy {OTHER_NUMPY}",
        "language": "python",
    }
    (kernels / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))
    nb = nbformat.read(SOLUTIONS / "01_numpy_gradients.ipynb", as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="other-numpy", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell, if any cell fails
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    text = "".join(out.get("text", "") for out in outputs)
    assert f"numpy {OTHER_NUMPY}" in text
    assert f"VersionDriftWarning: numpy {OTHER_NUMPY} is installed" in text
    assert "OK  " in text  # the visible checks ran and passed


def test_helper_unit_tests_pass_under_another_numpy(other_env, tmp_path):
    # --basetemp of its own: the inner run then cleans up nothing of other runs' (a folder
    # another test left, such as the attacks' deep nesting after a killed run, broke it once)
    result = subprocess.run(
        [str(other_env), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         f"--basetemp={tmp_path / 'inner'}", "-m", "not slow and not gpu", *UNIT_TESTS],
        capture_output=True, text=True, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
