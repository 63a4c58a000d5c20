"""Attacks on notebook 06's graded orders and training, written as a student who reads the
grader's code would write them: orders that only look shuffled (rotations of 0..n-1 fixed by
the seed, one fixed order), a kernel that patches torch.randperm, NumPy and builtins so that
the facts the old rules observed hold, a training function that ignores its loader, epochs
and seed and trains on the held-out digits. Each runs in a kernel that ran the solution
notebook; the grader's own judge compares the hidden answers with the solution's, and each
attack must earn no more than the honest partial score of the same code without the forgery
(0 for the question it attacks: none of them does the exercise's work). Last, the uniformity
test's own promise: how often it fails a fair source, computed exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autograder.grading.judging import judge
from autograder.grading.judging.properties_b import _divergence_too_large, uniform_permutations
from autograder.notebooks import HIDDEN_MARKERS, strip_markers

pytestmark = pytest.mark.slow

NOTEBOOK = "06_data_loading.ipynb"

ROTATING_SAMPLER = """
def _rotation(self):
    self.epochs_drawn = getattr(self, "epochs_drawn", 0) + 1
    return torch.roll(torch.arange(self.num_samples), self.seed + self.epochs_drawn)

RandomOrderSampler.epoch_order = _rotation
"""

# torch.randperm itself made to return rotations keyed by the generator's seed, and the kernel's
# NumPy and builtins rewritten so that any check made in the kernel would see a shuffle.
PATCHED_RANDPERM = """
import builtins as _builtins
import numpy as _np
_saved = (torch.randperm, _np.array_equal, _builtins.len)
_drawn = {}

def _randperm(n, *args, generator=None, **kwargs):
    key = id(generator)
    _drawn[key] = _drawn.get(key, 0) + 1
    seed = generator.initial_seed() if generator is not None else 0
    return torch.roll(torch.arange(n), int(seed) + _drawn[key])

torch.randperm = _randperm
_np.array_equal = lambda *args, **kwargs: False  # "no two epochs are ever equal"
"""
UNPATCH_RANDPERM = "torch.randperm, _np.array_equal, _builtins.len = _saved"

ROTATING_LOADER = """
class _Rotation(torch.utils.data.Sampler):
    def __init__(self, n, seed):
        self.n, self.seed, self.epochs_drawn = n, seed, 0

    def __len__(self):
        return self.n

    def __iter__(self):
        self.epochs_drawn += 1
        return iter(torch.roll(torch.arange(self.n), self.seed + self.epochs_drawn).tolist())


def make_loader(dataset, batch_size, shuffle, drop_last, seed):
    sampler = _Rotation(len(dataset), seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last)
"""

FIXED_ORDER_LOADER = """
def make_loader(dataset, batch_size, shuffle, drop_last, seed):
    fixed = np.random.default_rng(0).permutation(len(dataset)).tolist()
    order = fixed if shuffle else range(len(dataset))
    return DataLoader(torch.utils.data.Subset(dataset, list(order)), batch_size=batch_size,
                      drop_last=drop_last)
"""

# Ignores the loader, the epochs and the seed: trains on every digit, the held-out ones
# included, and returns as many losses as the caller expects.
TRAIN_ON_HELD_OUT = """
def train_classifier(loader, epochs, seed):
    everything = digit_splits()[0] + digit_splits()[1]
    model = make_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(10):
        for images, labels in DataLoader(everything, batch_size=32, shuffle=True):
            loss = F.cross_entropy(model(images.to(device)), labels.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return model, losses[: epochs * len(loader)]
"""

# Trains on the loader but with its own epochs (10) and a fixed seed (0), and then on the
# held-out digits found from the hidden test's own variables.
IGNORES_ARGUMENTS = """
import sys as _sys

def train_classifier(loader, epochs, seed):
    torch.manual_seed(0)
    model = make_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    batches = list(loader)
    caller = _sys._getframe(1).f_globals
    if "heldout" in caller:
        images, labels = load_digits()
        index = caller["heldout"].numpy()
        batches.append((torch.from_numpy(images[index]).unsqueeze(1),
                        torch.from_numpy(labels[index])))
    for _ in range(10):
        for images, labels in batches:
            loss = F.cross_entropy(model(images.to(device)), labels.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return model, losses[: epochs * len(loader)]
"""

ATTACKS = [
    ("rotations of 0..n-1 fixed by the seed", ROTATING_SAMPLER, "", "random_order_sampler",
     ["test_sampler"]),
    ("torch.randperm, NumPy and builtins patched to make rotations look shuffled",
     PATCHED_RANDPERM, UNPATCH_RANDPERM, "", ["test_sampler", "test_make_loader"]),
    ("a loader that rotates the examples by the seed and the epoch", ROTATING_LOADER, "",
     "make_loader", ["test_make_loader"]),
    ("a loader with one fixed order for every seed and epoch", FIXED_ORDER_LOADER, "",
     "make_loader", ["test_make_loader"]),
    ("training on the held-out digits, ignoring the loader, epochs and seed", TRAIN_ON_HELD_OUT,
     "", "train_classifier", ["test_training"]),
    ("epochs and seed ignored, held-out digits read from the caller's frame",
     IGNORES_ARGUMENTS, "", "train_classifier", ["test_training"]),
]  # fmt: skip


def verdict(kernel, references, test) -> judge.Verdict:
    result = kernel.probe(strip_markers(kernel.source(test), HIDDEN_MARKERS))
    return judge.judge(result.answers, references[test].answers)


@pytest.mark.parametrize(
    ("attack", "undo", "restore", "tests"),
    [pytest.param(a, u, r, t, id=name) for name, a, u, r, t in ATTACKS],
)
@pytest.mark.xdist_group(NOTEBOOK)  # the mutation tests' kernel of it
def test_attack_earns_nothing(solution_kernels, attack, undo, restore, tests):
    """Does the attack earn none of the points of the questions it attacks, as the grader
    judges them, and do those questions pass again once the solution is restored?"""
    kernel, references = solution_kernels(NOTEBOOK)
    ran = kernel.run(attack)
    assert ran.error is None, ran.error
    try:
        for test in tests:
            assert not verdict(kernel, references, test).passed, f"{test} passed"
    finally:
        kernel.run(undo or "pass")
        if restore:
            kernel.run(kernel.source(restore))
    for test in tests:
        assert verdict(kernel, references, test).passed, f"{test} fails after the restore"


@pytest.mark.parametrize("draws", [20, 60, 300])
def test_the_uniformity_test_fails_a_fair_coin_no_more_often_than_promised(draws):
    """Is the exact probability that the divergence test fails a fair coin (k = 2, every
    count weighted by its binomial probability) at most the alpha it was given?"""
    for alpha in (1e-2, 1e-4, 1e-9):
        failing = sum(
            math.comb(draws, c) / 2**draws
            for c in range(draws + 1)
            if _divergence_too_large(np.array([c, draws - c]), alpha)
        )
        assert failing <= alpha, (draws, alpha, failing)


def test_uniform_permutations_pass_and_rotations_fail():
    """Do uniformly random permutations pass uniform_permutations, and rotations of 0..n-1,
    one fixed order, and epochs that follow from the one before fail it?"""
    rng = np.random.default_rng(0)
    ref = {"name": "orders", "case": "", "params": {}}
    fair = np.array([[rng.permutation(5) for _ in range(2)] for _ in range(3000)], float)
    assert uniform_permutations(fair, ref, fair, {}) is None
    rotations = np.array([[np.roll(np.arange(5), s + e) for e in range(2)] for s in range(3000)])
    fixed = np.broadcast_to(rng.permutation(5), fair.shape)
    following = fair.copy()
    following[:, 1] = np.roll(fair[:, 0], 1, axis=1)
    for unfair in (rotations, fixed, following):
        assert uniform_permutations(unfair.astype(float), ref, fair, {}) is not None
