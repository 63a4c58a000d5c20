import os

import pytest

from autograder.course import notebook_names
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
