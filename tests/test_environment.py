"""cs231n_utils.environment: the tested versions, written down once, and the drift warning."""

from __future__ import annotations

import platform
import tomllib
import warnings

import numpy as np
import pytest
import torch

from autograder.course import REPO_ROOT
from cs231n_utils import devices, environment


def test_tested_versions_are_this_environments():
    """Is the course tested with what this environment has installed (Python, NumPy,
    PyTorch, TensorFlow), so that here nothing is reported?"""
    import tensorflow as tf

    tested = environment.TESTED
    assert platform.python_version().startswith(tested["python"] + ".")
    assert np.__version__ == tested["numpy"]
    assert torch.__version__.split("+")[0] == tested["torch"]
    assert tf.__version__ == tested["tensorflow"]
    assert environment.version_drift() == []


def test_pyproject_pins_the_tested_versions():
    """Do pyproject.toml's torch and TensorFlow pins name the tested versions?"""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pins = {
        dep.split(";")[0].split("==")[0].strip(): dep.split(";")[0].split("==")[1].strip()
        for dep in project["dependencies"]
        if "==" in dep
    }
    assert pins["torch"] == environment.TESTED["torch"]
    assert pins["tensorflow-cpu"] == pins["tensorflow"] == environment.TESTED["tensorflow"]


@pytest.mark.parametrize(
    ("version", "series"),
    [("2.13.0+cu126", (2, 13)), ("2.4.6", (2, 4)), ("3.11", (3, 11)), ("2.5.0rc1", (2, 5))],
)
def test_release_series(version, series):
    assert environment.release_series(version) == series


def test_drift_is_warned_about_not_raised():
    """With Colab-like versions (a newer NumPy, a CUDA build of the tested PyTorch), is one
    warning given, naming NumPy only, and does nothing fail?"""
    installed = dict(devices.framework_versions())
    installed.update(numpy="2.5.1", torch="2.13.0+cu126", tensorflow=None)
    with pytest.warns(environment.VersionDriftWarning, match=r"numpy 2\.5\.1 is installed") as w:
        lines = environment.check_versions(installed)
    assert len(w) == 1 and "torch" not in str(w[0].message)
    assert lines == [f"numpy 2.5.1 is installed; the course was tested with {np.__version__}"]


def test_no_warning_when_versions_match():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert environment.check_versions(devices.framework_versions()) == []


def test_an_older_python_is_reported():
    installed = dict(devices.framework_versions(), python="3.10.12")
    assert environment.version_drift(installed) == [
        "python 3.10.12 is installed; the course was tested with 3.11"
    ]


def test_colab_like_drift_names_each_package_with_both_versions():
    """With every framework another release than tested (as on Colab: a newer Python, NumPy,
    CUDA PyTorch and TensorFlow), does the one warning name each package with the version
    found and the version tested, and leave out Keras, which is not pinned?"""
    tested = environment.TESTED
    installed = {"python": "3.12.11", "numpy": "2.0.2", "torch": "2.9.0+cu126",
                 "tensorflow": "2.19.0", "keras": "3.10.0"}  # fmt: skip
    with pytest.warns(environment.VersionDriftWarning) as caught:
        lines = environment.check_versions(installed)
    message = str(caught[0].message)
    assert len(caught) == 1 and len(lines) == 4
    for name, found in installed.items():
        if name == "keras":
            assert "keras" not in message
            continue
        line = f"{name} {found} is installed; the course was tested with {tested[name]}"
        assert line in lines and line in message
