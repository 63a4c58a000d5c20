"""Helpers for the deep-learning-software notebooks.

Importing the package is cheap: it imports neither NumPy, PyTorch nor TensorFlow. Each
submodule is loaded on first use, and the heavy frameworks only inside the functions that
need them, so a NumPy-only notebook never pays for them.

    from cs231n_utils import checks, gradcheck
    from cs231n_utils.devices import torch_device, hardware_report
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "checks",
    "datasets",
    "devices",
    "environment",
    "gradcheck",
    "paths",
    "seeding",
    "submit",
    "threads",
    "timing",
)


def __getattr__(name: str):
    # Lazy submodules (PEP 562): `cs231n_utils.gradcheck` works without an explicit import.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])
