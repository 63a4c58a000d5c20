"""Numerical gradients by central differences, and ways to compare them with analytic ones.

Every numerical gradient in the course uses the one step `H` and evaluates in float64: in
float32 a step of 1e-5 is lost in rounding (float32 keeps about 7 significant digits), and
the "gradient" becomes noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

H = 1e-5  # the finite-difference step used everywhere in the course
REL_ERROR_FLOOR = 1e-8  # denominators below this are raised to it, so 0 vs 1e-12 is not "100%"


def rel_error(a, b, floor: float = REL_ERROR_FLOOR) -> float:
    """The largest elementwise relative error between `a` and `b`.

    |a - b| / max(|a| + |b|, floor), maximised over elements. Arrays of any (equal) shape;
    scalars work too. Returns 0.0 for two empty arrays.
    """
    a = np.asarray(a, dtype=np.float64)
    b = _shaped_like(a, b, "rel_error: shapes differ, the second")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)))


def _shaped_like(reference: np.ndarray, other, what: str) -> np.ndarray:
    """`other` as float64, which must have the reference's shape (ValueError naming `what`)."""
    other = np.asarray(other, dtype=np.float64)
    if other.shape != reference.shape:
        raise ValueError(f"{what} has shape {other.shape}, expected {reference.shape}")
    return other


def _perturbed_values(f: Callable, x: np.ndarray, index, h: float):
    """f at x + h and x - h along one coordinate; x is restored afterwards."""
    old = x[index]
    x[index] = old + h
    plus = np.asarray(f(x), dtype=np.float64)
    x[index] = old - h
    minus = np.asarray(f(x), dtype=np.float64)
    x[index] = old
    return plus, minus


def numerical_gradient(f: Callable, x, h: float = H) -> np.ndarray:
    """Gradient of a scalar function by central differences.

    f: called with a float64 array of x's shape, returns a scalar.
    x: array of any shape (it is copied to float64 and never modified).
    Returns an array of x's shape with df/dx[i] = (f(x + h e_i) - f(x - h e_i)) / 2h.
    Costs 2 * x.size calls of f.
    """

    def difference(plus: np.ndarray, minus: np.ndarray) -> float:
        if plus.size != 1:
            raise ValueError(
                f"numerical_gradient needs f to return a scalar, got shape {plus.shape}; "
                "for an array-valued f use numerical_gradient_array with an upstream gradient"
            )
        return plus.item() - minus.item()

    return _central_differences(f, x, h, difference)


def numerical_gradient_array(f: Callable, x, upstream, h: float = H) -> np.ndarray:
    """Gradient of sum(f(x) * upstream) with respect to x, by central differences.

    This is what a backward pass computes for a layer y = f(x) given dL/dy = `upstream`.
    f: called with a float64 array of x's shape, returns an array of upstream's shape.
    Returns an array of x's shape.
    """
    upstream = np.asarray(upstream, dtype=np.float64)

    def difference(plus: np.ndarray, minus: np.ndarray) -> float:
        if plus.shape != upstream.shape:
            raise ValueError(f"f returned shape {plus.shape} but upstream has {upstream.shape}")
        return float(np.sum((plus - minus) * upstream))

    return _central_differences(f, x, h, difference)


def _central_differences(f: Callable, x, h: float, difference: Callable) -> np.ndarray:
    """For each coordinate i of x (copied to float64): difference(f(x + h e_i), f(x - h e_i))
    divided by 2h."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        grad[index] = difference(*_perturbed_values(f, x, index, h)) / (2 * h)
    return grad


def sparse_gradient_check(
    f: Callable, x, analytic, num_checks: int = 10, seed: int = 0, h: float = H
) -> float:
    """Compare an analytic gradient with central differences at a few random coordinates.

    For parameters too large to difference every entry. f and x as in numerical_gradient;
    analytic: array of x's shape. Returns the largest relative error over the sampled
    coordinates (with the same floor as rel_error).
    """
    x = np.array(x, dtype=np.float64)
    analytic = _shaped_like(x, analytic, "the analytic gradient")
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(num_checks):
        index = tuple(int(rng.integers(n)) for n in x.shape)
        plus, minus = _perturbed_values(f, x, index, h)
        numeric = (plus.item() - minus.item()) / (2 * h)
        worst = max(worst, rel_error(numeric, analytic[index]))
    return worst


@dataclass(frozen=True)
class Comparison:
    """How close two arrays are, in the one-line form the notebooks print."""

    name: str
    exact: bool
    approximate: bool
    max_diff: float
    rel_error: float

    def __str__(self) -> str:
        return (
            f"{self.name:<12} | exact: {str(self.exact):<5} | approximate: "
            f"{str(self.approximate):<5} | max diff: {self.max_diff:.2e} | "
            f"rel error: {self.rel_error:.2e}"
        )


def compare(name: str, got, expected, tol: float = 1e-7) -> Comparison:
    """Compare `got` with `expected`: exactly, approximately (rel_error <= tol), and the max
    absolute difference. Both are arrays of one shape (a ValueError says so when not)."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise ValueError(f"{name}: shapes differ, got {got.shape}, expected {expected.shape}")
    max_diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
    err = rel_error(got, expected)
    return Comparison(name, bool(np.array_equal(got, expected)), err <= tol, max_diff, err)
