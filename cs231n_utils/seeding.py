"""One call to seed every random number generator a notebook uses."""

from __future__ import annotations

import os
import random
import sys

FRAMEWORKS = ("torch", "tensorflow")


def seed_everything(seed: int, frameworks: tuple[str, ...] | None = None) -> list[str]:
    """Seed Python's `random`, NumPy's global generator, PyTorch and TensorFlow.

    frameworks: which of "torch" and "tensorflow" to seed. None (the default) seeds those
    already imported, so a NumPy-only notebook does not pay to import them; name one to
    import and seed it regardless.
    Returns the names of what was seeded, e.g. ["python", "numpy", "torch"].
    """
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # for worker processes started from here
    seeded = ["python", "numpy"]
    wanted = [f for f in FRAMEWORKS if f in sys.modules] if frameworks is None else frameworks
    for name in wanted:
        if name == "torch":
            import torch

            torch.manual_seed(seed)  # seeds every device, CUDA and MPS included
        elif name == "tensorflow":
            import tensorflow as tf

            tf.random.set_seed(seed)
        else:
            raise ValueError(f"unknown framework {name!r}; expected one of {FRAMEWORKS}")
        seeded.append(name)
    return seeded
