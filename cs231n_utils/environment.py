"""The versions the course was tested with, and a warning when this machine has others.

Colab and a fresh `pip install` move NumPy, PyTorch and TensorFlow on without asking. The
notebooks' checks compute their references on the fly, so they keep working across versions;
the warning is there so that a student who sees something odd knows where to look first.
Nothing is imported: versions come from package metadata (devices.framework_versions).
"""

from __future__ import annotations

import re
import warnings

from cs231n_utils.devices import framework_versions

# The one place the tested versions are written down. pyproject.toml pins torch and
# TensorFlow to these (tests/test_environment.py checks that the two agree).
TESTED = {
    "python": "3.11",
    "numpy": "2.4.6",
    "torch": "2.13.0",
    "tensorflow": "2.21.0",
}


class VersionDriftWarning(UserWarning):
    """An installed version is not the one the course was tested with."""


def release_series(version: str) -> tuple[int, int]:
    """The major and minor release of a version string: "2.13.0+cu126" -> (2, 13).

    Patch releases and local labels (`+cpu`, `+cu126`) do not change behaviour the notebooks
    rely on, so they are not reported."""
    match = re.match(r"(\d+)(?:\.(\d+))?", version)
    if match is None:
        raise ValueError(f"not a version number: {version!r}")
    return int(match.group(1)), int(match.group(2) or 0)


def version_drift(installed: dict[str, str | None] | None = None) -> list[str]:
    """One line per framework whose installed release differs from TESTED; empty when
    everything matches. A framework that is not installed is not reported (a NumPy-only
    notebook does not need PyTorch).

    installed: name -> version, as devices.framework_versions() returns; read from this
    machine when None."""
    installed = framework_versions() if installed is None else installed
    lines = []
    for name, tested in TESTED.items():
        have = installed.get(name)
        if have and release_series(have) != release_series(tested):
            lines.append(f"{name} {have} is installed; the course was tested with {tested}")
    return lines


def check_versions(installed: dict[str, str | None] | None = None) -> list[str]:
    """Warn (VersionDriftWarning, never an error) about each version that differs from the
    tested ones; return the lines warned about. The notebooks call this in their setup cell."""
    lines = version_drift(installed)
    if lines:
        warnings.warn(
            "; ".join(lines)
            + ". The notebooks should still work: their checks compute their references on "
            "this machine. If a check fails for code you believe is right, mention these "
            "versions when you ask for help.",
            VersionDriftWarning,
            stacklevel=2,
        )
    return lines
