"""Rules that judge a property the grader computes itself, for notebook 06's random orders
and trained classifier: random permutations drawn for many seeds, a reproduction of them, and
a trained MLP measured on held-out digits that the student's function never received.

Same signature as every rule in grading/judging/rules.py (which registers these by name): the
student's decoded answer, the solution's record (trusted), the solution's decoded value and
the student's earlier answers; None when the answer holds, else a message written here from
fixed words and the solution's names. Trusted side: imports nothing that runs in the
student's kernel (the digits are read from the grader's own copy of data/, checksum verified).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from autograder.grading.judging.answers import decode

# The probability that the solution, or any correct sampler, fails one uniform_permutations
# answer is at most FALSE_FAILURE: each answer makes T multinomial tests and each fails with
# probability at most FALSE_FAILURE / T (union bound), by the finite-sample bound below.
FALSE_FAILURE = 1e-9
MAX_FULL = 120  # test the whole permutation's distribution when n! is at most this


def _where(ref: dict) -> str:
    from autograder.grading.judging.rules import on_case  # rules.py imports this module

    return on_case(ref)


def _mlp_forward(params: list[np.ndarray], x: np.ndarray, layout: str) -> np.ndarray:
    from autograder.grading.judging.rules import mlp_forward

    return mlp_forward(params, x, layout)


def _divergence_too_large(counts: np.ndarray, alpha: float) -> bool:
    """Whether counts (k categories, S draws) are too far from uniform for chance.

    The statistic is x = S * KL(empirical || uniform). For S independent draws from a
    distribution over k categories, Agrawal (2020, "Finite-sample concentration of the
    multinomial in relative entropy", Theorem 1.2) bounds the moment generating function of x
    by a Gamma(k - 1, 1)'s, which gives P(x >= t) <= exp(-t) (e t / (k - 1))^(k - 1) for
    t > k - 1. We fail only where that bound at the observed x is below alpha, so a uniform
    sampler fails this test with probability at most alpha, whatever S and k are."""
    draws, k = float(counts.sum()), counts.size
    freq = counts[counts > 0] / draws
    x = draws * float(np.sum(freq * np.log(freq * k)))
    if x <= k - 1:
        return False
    log_tail = -x + (k - 1) * (1.0 + math.log(x / (k - 1)))
    return log_tail < math.log(alpha)


def _tables(orders: np.ndarray) -> list[np.ndarray]:
    """Count tables of S permutations (S, n), each uniform for uniformly random ones: where
    each index lands (one table per position), which of each pair comes first, and for small
    n the whole permutation."""
    draws, n = orders.shape
    tables = [np.bincount(orders[:, p], minlength=n) for p in range(n)]
    position = np.argsort(orders, axis=1)  # position[s, v]: where index v came in draw s
    for i, j in itertools.combinations(range(n), 2):
        first = int(np.sum(position[:, i] < position[:, j]))
        tables.append(np.array([first, draws - first]))
    if math.factorial(n) <= MAX_FULL:  # each draw's rank among the n! orders, lexicographic
        rank = np.zeros(draws, dtype=np.int64)  # (Python per row and value: 36 ms an answer)
        for i in range(n):
            later_smaller = np.sum(orders[:, i + 1 :] < orders[:, i : i + 1], axis=1)
            rank += later_smaller * math.factorial(n - 1 - i)
        tables.append(np.bincount(rank, minlength=math.factorial(n)))
    return tables


def uniform_permutations(mine, ref, theirs, answers) -> str | None:
    """Epochs (S, E, n): for S seeds the grader chose, E epochs each. Every epoch must hold
    every index once; the first epochs of the S seeds must be uniformly random permutations;
    and each later epoch, seen relative to the one before it, too (rotations of 0..n-1, a
    fixed order, a re-seeded generator or an order that ignores the seed all fail)."""
    name, where = ref["name"], _where(ref)
    if not isinstance(mine, np.ndarray) or mine.ndim != 3 or mine.shape != theirs.shape:
        return f"{name}: not the number of seeds, epochs and indices asked for{where}"
    draws, epochs, n = mine.shape
    if not np.all(np.sort(mine, axis=2) == np.arange(n)):
        return f"{name}: an epoch does not hold every index exactly once{where}"
    orders = mine.astype(np.int64)
    groups = [orders[:, 0]]
    for e in range(1, epochs):  # epoch e in the positions of epoch e - 1: uniform if new
        before = np.argsort(orders[:, e - 1], axis=1)
        groups.append(np.take_along_axis(before, orders[:, e], axis=1))
    tables = [_tables(group) for group in groups]
    alpha = FALSE_FAILURE / sum(len(t) for t in tables)
    if any(_divergence_too_large(t, alpha) for t in tables[0]):
        return (
            f"{name}: the orders are not uniformly random across seeds{where}: a fixed "
            "order, rotations, or an order that ignores the seed"
        )
    for later in tables[1:]:
        if any(_divergence_too_large(t, alpha) for t in later):
            return f"{name}: each epoch's order follows from the one before it{where}"
    return None


def repeats(mine, ref, theirs, answers) -> str | None:
    """Exactly the first rows of this student's own earlier answer `of`: the same seeds
    again give the same orders."""
    name, where = ref["name"], _where(ref)
    of = str(ref["params"].get("of"))
    earlier = answers.get(of)
    if not isinstance(mine, np.ndarray) or not isinstance(earlier, np.ndarray):
        return f"{name}: nothing to compare with{where}"
    if mine.ndim != earlier.ndim or mine.shape[1:] != earlier.shape[1:]:
        return f"{name}: another shape than {of}{where}"
    if len(mine) > len(earlier) or not np.array_equal(mine, earlier[: len(mine)]):
        return f"{name}: differs from {of}{where}; the same seeds should give the same orders"
    return None


def heldout_digits(mine, ref, theirs, answers) -> str | None:
    """A trained MLP's parameters (torch layout, the solution's shapes), measured here on the
    held-out digits at the solution's `given["heldout"]` indices of data/digits, which the
    grader reads from its own copy: at least `min_accuracy` of them classified right."""
    from cs231n_utils.datasets import load_digits  # numpy only; the grader's own files

    name, where = ref["name"], _where(ref)
    if not isinstance(mine, list) or len(mine) != len(theirs):
        return f"{name}: expected {len(theirs)} parameter arrays{where}"
    for got, shape in zip(mine, (t.shape for t in theirs), strict=True):
        if not isinstance(got, np.ndarray) or got.shape != shape:
            return f"{name}: a parameter has another shape than the model's{where}"
        if not np.all(np.isfinite(got)):
            return f"{name} contain NaN or inf{where}: the training diverged"
    images, labels = load_digits()
    indices = decode(ref["given"]["heldout"]).astype(np.int64)
    x = images[indices].reshape(len(indices), -1).astype(np.float64)
    logits = _mlp_forward(mine, x, "torch")
    accuracy = float(np.mean(logits.argmax(axis=1) == labels[indices]))
    bound = float(ref["params"]["min_accuracy"])
    if accuracy < bound:
        return (
            f"{name}: the held-out accuracy, measured by the grader on digits your function "
            f"never received, is below {bound:.0%}{where}"
        )
    return None
