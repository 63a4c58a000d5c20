import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from autograder.course import SAMPLES, notebook_names
from autograder.grading.isolation import sandbox

# debugpy (inside ipykernel) warns on stderr about frozen modules at kernel start.
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


@pytest.fixture(scope="session")
def grading_sandbox() -> None:
    """The tests that grade do so in the real sandbox, the grader's default: they fail, saying
    what is missing, on a machine without it, never skip (a suite that passes by skipping its
    grading tests proves nothing). `make test` installs bubblewrap; it needs root on Linux
    with cgroups. `make test-fast` runs the unit tests, which need none of it."""
    missing = sandbox.missing(sandbox.probe())
    if missing:
        pytest.fail(
            "grading tests need the sandbox, which this machine lacks: "
            + "; ".join(f"{c.name}: {c.detail}" for c in missing)
            + " (make test installs bubblewrap; run as root; or run make test-fast)",
            pytrace=False,
        )


NEEDS_SANDBOX = pytest.mark.usefixtures("grading_sandbox")


@pytest.fixture(scope="session")
def solution_kernels(tmp_path_factory):
    """One executed solution kernel per notebook for the whole session, started on first use:
    `solution_kernels(name)` is (kernel, its graded tests' results). The mutation and attack
    tests of a notebook share it (they put the notebook's file name as their xdist group, so
    they run on one worker), each restoring the solution's cells after its change. Its
    temporary folder has a path like a student's laptop may have (a space, an accent, "x_"),
    which a notebook that edits paths as strings gets wrong."""
    from autograder.course import SOLUTIONS
    from autograder.notebooks import read
    from notebook_kernel import NotebookKernel

    started = {}
    tmp = tmp_path_factory.mktemp("kernels") / "Temp de José x_1"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}

    def get(name):
        if name not in started:
            kernel = NotebookKernel(read(SOLUTIONS / name), cwd=SOLUTIONS, env=env)
            kernel.__enter__()
            started[name] = kernel, kernel.run_all()
        return started[name]

    yield get
    for kernel, _ in started.values():
        kernel.__exit__(None, None, None)


def shared_folder(tmp_path_factory) -> Path:
    """The session's folder that every xdist worker sees (each has a folder of its own in it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def graded_samples(tmp_path_factory, grading_sandbox) -> tuple[subprocess.CompletedProcess, Path]:
    """The three samples, every notebook, graded once for the whole session by cs231n-grade
    (2 workers, --expect): its run and OUT. OUT/references holds both runs of every solution:
    a test that grades copies them into its own OUT (`with_references`), as a term's later
    batches reuse them, instead of computing them again. The first xdist worker to ask grades;
    one that asks meanwhile waits for it (a file lock in the shared folder)."""
    shared = shared_folder(tmp_path_factory)
    out, record = shared / "graded-samples", shared / "graded-samples.json"
    with FileLock(str(shared / "graded-samples.lock")):
        if not record.exists():
            grade = str(Path(sys.executable).with_name("cs231n-grade"))
            command = [grade, str(SAMPLES), "--out", str(out), "--workers", "2", "--no-progress",
                       "--expect", str(SAMPLES / "expected_scores.csv")]  # fmt: skip
            run = subprocess.run(command, capture_output=True, text=True, timeout=3000)
            saved = {k: getattr(run, k) for k in ("args", "returncode", "stdout", "stderr")}
            record.write_text(json.dumps(saved))
    return subprocess.CompletedProcess(**json.loads(record.read_text())), out


def with_references(out: Path, graded: Path) -> Path:
    """OUT made, holding the references of the run in `graded` (keyed by the grader and the
    solutions: a run into OUT takes them as its own)."""
    out.mkdir(parents=True)
    shutil.copytree(graded / "references", out / "references")
    return out


@pytest.fixture(scope="session")
def notebooks() -> list[str]:
    names = notebook_names()
    assert names, "no solution notebooks found"
    return names


class FakeColab:
    """A stand-in for Colab's `google.colab` package in a folder of its own: put `path` on
    sys.path (or PYTHONPATH for a kernel) and import it, as Colab's kernel does at start.
    files.download(name) appends name to the file `downloads_log` instead of downloading."""

    def __init__(self, root):
        self.path = root / "fake_colab"
        package = self.path / "google" / "colab"  # no google/__init__.py: google is a
        package.mkdir(parents=True)  # namespace package (protobuf lives in it too)
        (package / "__init__.py").write_text('"""Stand-in for google.colab (tests only)."""\n')
        (package / "files.py").write_text(
            "import os\n\n\ndef download(filename):\n"
            "    with open(os.environ['FAKE_COLAB_DOWNLOADS'], 'a') as log:\n"
            "        log.write(str(filename) + '\\n')\n"
        )
        self.downloads_log = root / "colab_downloads.txt"

    def downloads(self) -> list[str]:
        if not self.downloads_log.exists():
            return []
        return self.downloads_log.read_text().splitlines()


@pytest.fixture
def fake_colab(tmp_path, monkeypatch):
    """A FakeColab on PYTHONPATH (for kernels started by the test), not yet imported here."""
    colab = FakeColab(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(colab.path))
    monkeypatch.setenv("FAKE_COLAB_DOWNLOADS", str(colab.downloads_log))
    return colab


@pytest.fixture
def colab_here(fake_colab, monkeypatch):
    """This test process made to look like a Colab kernel: google.colab imported."""
    import importlib
    import sys

    monkeypatch.syspath_prepend(str(fake_colab.path))
    importlib.import_module("google.colab")
    yield fake_colab
    for name in [m for m in sys.modules if m == "google.colab" or m.startswith("google.colab.")]:
        del sys.modules[name]
    if hasattr(sys.modules.get("google"), "colab"):
        delattr(sys.modules["google"], "colab")
