"""The student-facing checks: each failure is an AssertionError with a message a student
can act on, and never a traceback from inside NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cs231n_utils import checks


def failure(fn, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, checks.CheckFailed)
    return str(info.value)


def test_unfinished_exercise_is_named_plainly():
    """Does a None placeholder say the exercise is unfinished, in every check?"""
    for fn, args in [
        (checks.check_array, ("dw1", None)),
        (checks.check_scalar, ("loss", None)),
        (checks.check_close, ("dw1", None, np.ones(2))),
        (checks.check_length, ("losses", None, 3)),
        (checks.check_loss_decrease, (None, 2)),
    ]:
        assert "not finished yet" in failure(fn, *args)
    assert "is empty" in failure(checks.check_length, "losses", [], 3)


def test_wrong_shape_names_both_shapes_and_the_usual_cause():
    """Does a transposed gradient get 'shape (5, 4), expected (4, 5)' and a hint?"""
    message = failure(checks.check_gradient, "dw", np.ones((5, 4)), np.sum, np.ones((4, 5)))
    assert "shape (5, 4), expected (4, 5)" in message and "transposed" in message


def test_integer_dtype_and_nan_are_explained():
    """Are integer arrays and NaNs reported in plain words?"""
    assert "dtype int64" in failure(checks.check_array, "dx", np.ones(3, dtype=np.int64))
    message = failure(checks.check_array, "dx", np.array([1.0, np.nan, np.inf]))
    assert "NaN or inf (2 of 3 entries)" in message


def test_non_arrays_are_explained():
    """Is a dict or a list of strings reported as the wrong kind of value?"""
    assert "array of numbers" in failure(checks.check_array, "dx", {"a": 1})
    assert "single number" in failure(checks.check_scalar, "loss", np.ones(3))


def test_check_close_reports_expected_got_error_and_hint():
    """Does a wrong value show expected, got, relative error, max diff and the hint?"""
    message = failure(checks.check_close, "dw", [1.0, 2.0], [1.0, 3.0], hint="look at b")
    assert "relative error 2.00e-01" in message and "max diff 1.00e+00" in message
    assert "expected: [1., 3.]" in message and "got:      [1., 2.]" in message
    assert message.endswith("Hint: look at b")


def test_check_close_accepts_close_values_and_tensors(capsys):
    """Do a float64 torch tensor and a nearly equal array pass, printing one OK line?"""
    checks.check_close("dw", torch.tensor([1.0, 2.0], dtype=torch.float64), [1.0, 2.0 + 1e-12])
    assert capsys.readouterr().out.startswith("OK  dw")


def test_to_numpy_reads_torch_and_tensorflow():
    """Are tensors from both frameworks turned into NumPy arrays (grad-tracking included)?"""
    import tensorflow as tf

    t = torch.ones(2, requires_grad=True) * 3
    assert np.array_equal(checks.to_numpy(t), [3.0, 3.0])
    assert np.array_equal(checks.to_numpy(tf.constant([1.0, 2.0])), [1.0, 2.0])
    assert np.array_equal(checks.to_numpy(tf.Variable([4.0])), [4.0])


def test_check_gradient_tells_right_from_wrong():
    """Does check_gradient pass 2x for sum(x**2) and fail x, with the relative error?"""
    x = np.random.default_rng(0).standard_normal((3, 2))
    checks.check_gradient("dx", 2 * x, lambda v: np.sum(v**2), x)
    assert "dx is wrong: relative error" in failure(
        checks.check_gradient, "dx", x, lambda v: np.sum(v**2), x
    )


def test_check_gradient_explains_an_unfinished_loss():
    """When the function still returns None, is that said instead of a TypeError?"""
    x = np.ones(2)
    message = failure(checks.check_gradient, "dx", np.ones(2), lambda v: None, x)
    assert "not finished yet" in message


def test_loss_decrease():
    """Does a fall by 10x pass a factor of 5 and fail a factor of 20, saying both factors?"""
    checks.check_loss_decrease([10.0, 5.0, 1.0], factor=5)
    message = failure(checks.check_loss_decrease, [10.0, 1.0], factor=20)
    assert "a factor of 10" in message and "at least a factor of 20" in message
    assert "NaN" in failure(checks.check_loss_decrease, [1.0, np.nan], factor=2)
