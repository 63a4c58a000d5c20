"""cs231n_utils.gradcheck against independent references: closed-form derivatives and
PyTorch's autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cs231n_utils import gradcheck


def test_numerical_gradient_matches_closed_form():
    """Does the central difference of sum(sin(x) * x**2) match its derivative to 1e-8?"""
    x = np.random.default_rng(0).uniform(-2, 2, (3, 4))
    numeric = gradcheck.numerical_gradient(lambda v: np.sum(np.sin(v) * v**2), x)
    exact = np.cos(x) * x**2 + 2 * x * np.sin(x)
    assert gradcheck.rel_error(numeric, exact) < 1e-8


def test_numerical_gradient_matches_torch_autograd():
    """Does it agree with autograd on a two-layer network's loss (a 3-D input included)?"""
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))

    def f(v):
        return float(np.sum(np.tanh(v @ w) ** 2))

    t = torch.tensor(x, requires_grad=True)
    torch.sum(torch.tanh(t @ torch.tensor(w)) ** 2).backward()
    assert gradcheck.rel_error(gradcheck.numerical_gradient(f, x), t.grad.numpy()) < 1e-8


def test_array_gradient_is_a_vector_jacobian_product():
    """Is numerical_gradient_array the gradient of sum(f(x) * upstream), as autograd says?"""
    rng = np.random.default_rng(2)
    x, upstream = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    numeric = gradcheck.numerical_gradient_array(np.exp, x, upstream)
    t = torch.tensor(x, requires_grad=True)
    torch.exp(t).backward(torch.tensor(upstream))
    assert gradcheck.rel_error(numeric, t.grad.numpy()) < 1e-8


def test_input_is_not_modified_and_float32_is_differenced_in_float64():
    """Is x left untouched, and is a float32 x differenced in float64 (accurate to 1e-8)?"""
    x = np.random.default_rng(3).uniform(0.5, 2, (5,)).astype(np.float32)
    before = x.copy()
    seen = []
    numeric = gradcheck.numerical_gradient(lambda v: seen.append(v.dtype) or np.sum(v**3), x)
    assert np.array_equal(x, before) and set(seen) == {np.dtype(np.float64)}
    assert gradcheck.rel_error(numeric, 3 * x.astype(np.float64) ** 2) < 1e-8


def test_one_step_everywhere():
    """Do all three differencing functions default to the one course step H = 1e-5?"""
    for fn in (
        gradcheck.numerical_gradient,
        gradcheck.numerical_gradient_array,
        gradcheck.sparse_gradient_check,
    ):
        assert fn.__defaults__[-1] == gradcheck.H == 1e-5


def test_non_scalar_function_is_refused():
    """Is a vector-valued f given to numerical_gradient refused with a pointer to the
    array version?"""
    with pytest.raises(ValueError, match="numerical_gradient_array"):
        gradcheck.numerical_gradient(lambda v: v * 2, np.ones(3))


def test_sparse_check_tells_right_from_wrong():
    """Does the sparse check pass the right gradient and flag one with a single bad column?"""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 5))

    def f(v):
        return np.sum(v**2)

    right = 2 * x
    wrong = right.copy()
    wrong[:, 2] *= 1.5
    assert gradcheck.sparse_gradient_check(f, x, right, num_checks=30) < 1e-7
    assert gradcheck.sparse_gradient_check(f, x, wrong, num_checks=30) > 0.1


def test_rel_error_floor():
    """Does the floor keep 0 vs 1e-12 from counting as a 100% error, while 1 vs 2 is 1/3?"""
    assert gradcheck.rel_error(0.0, 1e-12) == pytest.approx(1e-4)
    assert gradcheck.rel_error(1.0, 2.0) == pytest.approx(1 / 3)
    assert gradcheck.rel_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        gradcheck.rel_error(np.zeros(2), np.zeros(3))


def test_compare_reports_exact_approximate_and_max_diff():
    """Does compare tell exact from approximate from wrong, with the max difference?"""
    a = np.array([1.0, 2.0, 3.0])
    exact = gradcheck.compare("a", a, a.copy())
    close = gradcheck.compare("a", a + 1e-12, a)
    far = gradcheck.compare("a", a + [0, 0, 0.5], a)
    assert (exact.exact, exact.approximate, exact.max_diff) == (True, True, 0.0)
    assert (close.exact, close.approximate) == (False, True)
    assert (far.exact, far.approximate, far.max_diff) == (False, False, 0.5)
    assert "approximate: False" in str(far) and "max diff: 5.00e-01" in str(far)
