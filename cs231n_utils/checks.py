"""Checks that students run in the notebooks, with messages a student can act on.

Each check returns quietly or prints one line on success, and raises `CheckFailed` (an
`AssertionError`, so nbgrader counts it as a failed test) with what was expected, what was
got, how far apart, and a hint. Unfinished exercises, wrong shapes, integer dtypes, NaNs and
tensors from PyTorch or TensorFlow are recognised before any arithmetic, so a student never
reads a traceback from inside NumPy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from cs231n_utils.gradcheck import compare, numerical_gradient, rel_error

UNFINISHED = (
    "{name} is None: the exercise is not finished yet (replace `# YOUR CODE HERE` with "
    "code that computes it)."
)


class CheckFailed(AssertionError):
    """A check's verdict, worded for the student."""


def _fail(message: str, hint: str | None = None):
    # IPython and pytest leave frames with this local out of tracebacks: a student sees
    # their own code and the verdict, not the checks' internals.
    __tracebackhide__ = True
    if hint:
        message = f"{message}\n  Hint: {hint}"
    raise CheckFailed(message)


def to_numpy(value):
    """A NumPy view of an array, a PyTorch tensor (any device) or a TensorFlow tensor."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor
        return value.detach().cpu().numpy()
    if hasattr(value, "numpy") and not isinstance(value, np.ndarray):  # tf.Tensor, tf.Variable
        return value.numpy()
    return np.asarray(value)


def _preview(a: np.ndarray, n: int = 4) -> str:
    flat = np.asarray(a).ravel()
    shown = np.array2string(flat[:n], precision=4, separator=", ")
    return shown[:-1] + ", ...]" if flat.size > n else shown


def check_ready(name: str, value) -> None:
    """Fail with a plain message when an exercise still returns its `None` placeholder."""
    __tracebackhide__ = True
    if value is None:
        _fail(UNFINISHED.format(name=name))
    if value is NotImplemented or value is Ellipsis:
        _fail(UNFINISHED.format(name=name))


def check_length(name: str, got, length: int, hint: str | None = None) -> None:
    """Check that a list (or other sequence) is finished and has `length` entries."""
    __tracebackhide__ = True
    check_ready(name, got)
    try:
        size = len(got)
    except TypeError:
        _fail(f"{name} should be a list, got a {type(got).__name__}.", hint)
    if size == 0:
        _fail(f"{name} is empty: the exercise is not finished yet (nothing was recorded).", hint)
    if size != length:
        _fail(f"{name} has {size} entries, expected {length}.", hint)


def check_array(
    name: str,
    got,
    shape: Sequence[int] | None = None,
    floating: bool = True,
    hint: str | None = None,
) -> np.ndarray:
    """Check that `got` is a finished, finite array of the given shape; return it as NumPy.

    shape: the expected shape, or None to accept any. floating: require a float dtype.
    """
    __tracebackhide__ = True
    check_ready(name, got)
    try:
        array = to_numpy(got)
    except Exception as error:  # an object NumPy cannot read
        _fail(f"{name} should be an array, got a {type(got).__name__} ({error}).", hint)
    if array.dtype == object:
        _fail(
            f"{name} should be an array of numbers, got {type(got).__name__} holding "
            f"{type(array.ravel()[0]).__name__ if array.size else 'nothing'}.",
            hint,
        )
    if shape is not None and tuple(array.shape) != tuple(shape):
        _fail(f"{name} has shape {tuple(array.shape)}, expected {tuple(shape)}.", hint)
    if floating and not np.issubdtype(array.dtype, np.floating):
        _fail(
            f"{name} has dtype {array.dtype}, expected floating-point numbers "
            "(integer arrays silently round gradients to whole numbers).",
            hint,
        )
    if np.issubdtype(array.dtype, np.number) and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        _fail(
            f"{name} contains NaN or inf ({bad} of {array.size} entries); values blew up "
            "somewhere: a learning rate that is too large, or a division by zero.",
            hint,
        )
    return array


def check_scalar(name: str, got, hint: str | None = None) -> float:
    """Check that `got` is one finite number (a Python float, a 0-d or 1-element array or
    tensor) and return it as a float."""
    __tracebackhide__ = True
    array = check_array(name, got, floating=False, hint=hint)
    if array.size != 1:
        _fail(f"{name} should be a single number, got an array of shape {array.shape}.", hint)
    return float(array.ravel()[0])


def check_close(
    name: str, got, expected, tol: float = 1e-7, hint: str | None = None, quiet: bool = False
) -> None:
    """Check that `got` equals `expected` up to relative error `tol` (see gradcheck.rel_error).

    expected: an array (or number) computed by a reference implementation.
    """
    __tracebackhide__ = True
    expected = np.asarray(to_numpy(expected), dtype=np.float64)
    got = check_array(name, got, shape=expected.shape, floating=False, hint=hint)
    result = compare(name, got, expected, tol=tol)
    if not result.approximate:
        _fail(
            f"{name} is wrong: relative error {result.rel_error:.2e} (max diff "
            f"{result.max_diff:.2e}), allowed {tol:.0e}.\n"
            f"  expected: {_preview(expected)}\n  got:      {_preview(got)}",
            hint,
        )
    if not quiet:
        print(f"OK  {result}")


def check_gradient(
    name: str,
    analytic,
    f: Callable,
    x,
    tol: float = 1e-7,
    hint: str | None = None,
) -> None:
    """Check an analytic gradient against central differences of the function itself.

    analytic: the gradient to check, an array of x's shape.
    f: the scalar function it claims to be the gradient of, called as f(x).
    x: the point, an array.
    """
    __tracebackhide__ = True
    analytic, numeric = gradient_pair(name, analytic, f, x, hint)
    check_close(name, analytic, numeric, tol=tol, hint=hint)


def gradient_pair(name: str, analytic, f: Callable, x, hint: str | None = None):
    """The two sides of check_gradient: (analytic as a checked array of x's shape, central
    differences of f at x). The batch grader records both and compares them itself."""
    __tracebackhide__ = True
    x = np.asarray(to_numpy(x), dtype=np.float64)
    analytic = check_array(name, analytic, shape=x.shape, hint=_shape_hint(name, hint))
    value = f(x.copy())
    check_scalar(f"the value whose gradient is {name}", value)
    numeric = numerical_gradient(lambda v: float(np.asarray(to_numpy(f(v))).ravel()[0]), x)
    return analytic, numeric


def _shape_hint(name: str, hint: str | None) -> str:
    general = (
        f"{name} must have the shape of the quantity it differentiates; a transposed "
        "matrix product (x @ d vs x.T @ d) is the usual cause."
    )
    return f"{hint} {general}" if hint else general


def check_loss_decrease(losses, factor: float, name: str = "loss", hint: str | None = None) -> None:
    """Check that a training run lowered the loss by at least `factor` (first / last).

    losses: a sequence of at least two loss values, in training order.
    """
    __tracebackhide__ = True
    check_ready(f"the {name} history", losses)
    history = check_array(f"the {name} history", losses, floating=False, hint=hint).ravel()
    if history.size < 2:
        _fail(f"the {name} history has {history.size} value(s); record one per step.", hint)
    first, last = float(history[0]), float(history[-1])
    achieved = first / last if last > 0 else float("inf")
    if not last * factor <= first:
        _fail(
            f"the {name} went from {first:.4g} to {last:.4g}, a factor of {achieved:.3g}; "
            f"it should fall by at least a factor of {factor:g}.",
            hint,
        )
    print(f"OK  {name} fell from {first:.4g} to {last:.4g} (factor {achieved:.3g} >= {factor:g})")


__all__ = [
    "CheckFailed",
    "check_array",
    "check_close",
    "check_gradient",
    "check_length",
    "check_loss_decrease",
    "check_ready",
    "check_scalar",
    "rel_error",
    "to_numpy",
]
