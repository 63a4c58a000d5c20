"""cs231n_utils.seeding and cs231n_utils.timing."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch

from cs231n_utils import seeding, timing

SEED_SCRIPT = """
import json, random
import numpy as np
import tensorflow as tf
import torch
from cs231n_utils import seeding

def draw():
    return [random.random(), float(np.random.rand()), torch.rand(1).item(),
            float(tf.random.uniform([]))]

seeded = seeding.seed_everything(7, frameworks=("torch", "tensorflow"))
first = draw()
seeding.seed_everything(7, frameworks=("torch", "tensorflow"))
again = draw()
seeding.seed_everything(8, frameworks=("torch", "tensorflow"))
print(json.dumps([seeded, first, again, draw()]))
"""


def test_one_call_seeds_every_generator():
    """Does seed_everything make Python, NumPy, PyTorch and TensorFlow repeat themselves,
    and a different seed change them all? (In a process of its own: a thread left by another
    test that draws from Python's global generator would make the repeat fail.)"""
    run = subprocess.run([sys.executable, "-c", SEED_SCRIPT], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    seeded, first, again, other = json.loads(run.stdout.splitlines()[-1])
    assert again == first
    assert all(a != b for a, b in zip(other, first, strict=True))
    assert seeded == ["python", "numpy", "torch", "tensorflow"]


def test_default_seeds_only_imported_frameworks():
    """In a NumPy-only process, does the default leave torch and TensorFlow unimported?"""
    code = (
        "import sys; from cs231n_utils.seeding import seed_everything; "
        "print(seed_everything(0)); print('torch' in sys.modules, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.split("\n")[:2] == ["['python', 'numpy']", "False False"]


def test_unknown_framework_is_refused():
    with pytest.raises(ValueError, match="unknown framework"):
        seeding.seed_everything(0, frameworks=("jax",))


def test_timer_measures_a_sleep():
    """Does Timer measure a 50 ms sleep in seconds, as at least 50 ms (a busy machine may
    wake the sleeper late, so the upper bound only rules out other units)?"""
    with timing.Timer() as t:
        time.sleep(0.05)
    assert 0.05 <= t.seconds < 5


def test_timer_synchronizes_cuda_at_both_ends(monkeypatch):
    """With CUDA in use (simulated), is the device synchronized before each clock read?"""
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: calls.append(time.perf_counter()))
    with timing.Timer() as t:
        time.sleep(0.01)
    assert len(calls) == 2 and t.seconds >= 0.01


def test_time_function_reports_median_of_repeats():
    """Are warm-up runs left out and the median taken over the timed ones?"""
    runs = []
    result = timing.time_function(lambda: runs.append(1), repeat=5, warmup=2)
    assert len(runs) == 7 and len(result.runs) == 5
    assert result.median == sorted(result.runs)[2] and result.best == min(result.runs)
