"""What a hidden test hands to the batch grader: the values the student's functions returned.

A hidden test calls the student's functions on inputs the student has not seen and passes
what came back to `answer`:

    from cs231n_utils import graded
    loss, grads = two_layer_loss(x, y, w1, w2)
    graded.answer("dloss/dw1", grads["w1"], case="a batch of one example")

It computes no reference: no expected value, no numerical gradient. Run in a notebook (or by
plain `nbgrader autograde`), `answer` only checks that the value is finished and readable.
Run by the batch grader (`run_probe`), every answer is written down and leaves the kernel as
one JSON document; the grader compares it, in its own process, with what the course's
solution returned on the same inputs, by the rule the *solution's* call named (rule, tol,
case, hint and `given` are read from the solution's record, never from the
student's).

Everything in this module runs inside the student's kernel, so nothing in it is trusted: a
kernel that rewrites it can only misreport its own values, and a misreported value is judged
like any other wrong answer. The module imports nothing from the autograder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

MIME = "application/x-cs231n-answers+json"  # the display channel the answers travel on
MAX_ELEMENTS = 1_000_000  # per answered array; the course's answers are far smaller
MAX_ITEMS = 64  # entries of an answered list of arrays (a model's parameters)
RULES = (
    "close",  # numbers equal to the solution's up to a relative error `tol`
    "equal",  # exactly the solution's numbers (counts, labels, indices)
    "floats",  # a list of Python floats, as long as the solution's
    "permutations",  # rows that each hold every index once, not all in one order
    "same_as",  # equal to this student's own earlier answer named `of` (`close=True`: to tol)
    "recorded",  # not judged by itself: kept for a later same_as or differs_from
    "differs_from",  # not equal to this student's own earlier answer named `of`
    "trained_mlp",  # parameters whose loss on `given` data fell by `factor`
    "trained_convnet",  # notebook 08's parameters, scored by the grader on its own digits
    "uniform_permutations",  # (seeds, epochs, n) orders, uniformly random by the grader's test
    "repeats",  # the first rows of this student's own earlier answer named `of`, exactly
    "heldout_digits",  # MLP parameters the grader measures on held-out digits (`given`)
)
MAX_TEXT = 200  # characters of one string in a list of plain values

_recording: list | None = None  # set by run_probe while a graded test runs
_last: str | None = None  # the last probe's document, sent again by last_answers()


def answer(
    name: str,
    value,
    rule: str = "close",
    *,
    tol: float = 1e-7,
    case: str = "",
    hint: str = "",
    given: Mapping | None = None,
    **params,
) -> None:
    """Hand `value` to the grader as the answer called `name`.

    rule: how the grader judges it (one of RULES); tol: the relative error allowed by
    "close"; case: a few words on the hidden case, for the student's feedback; hint: what
    to look at when it is wrong; given: inputs a rule needs (training data, starting
    weights), taken from the solution's run; params: the
    rule's numbers (bound, factor, of, min_accuracy, layout, loss) and `same_type=True`,
    which makes "close" and "equal" also require the solution's array type (NumPy, torch,
    ...) and dtype.
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; one of {RULES}")
    if _recording is not None:
        record = {
            "name": str(name),
            "value": encode(value),
            "rule": rule,
            "tol": float(tol),
            "case": str(case),
            "hint": str(hint),
            "params": {k: _plain(v) for k, v in params.items()},
        }
        if given is not None:
            record["given"] = {str(k): encode(v) for k, v in given.items()}
        _recording.append(record)
        return
    from cs231n_utils import checks

    __tracebackhide__ = True
    checks.check_ready(name, value)


def _plain(value):
    """A rule parameter as JSON: a number, a string, a bool or None."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return float(value)


def _kind(value) -> str:
    """What a value was, in a fixed vocabulary (the grader compares it, never shows it)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    module = type(value).__module__.split(".")[0]
    return {"numpy": "numpy", "torch": "torch", "tensorflow": "tensorflow", "keras": "keras"}.get(
        module, "other"
    )


def encode(value, depth: int = 0) -> dict:
    """A JSON description of an answer: an array's dtype, shape and numbers; a list of
    arrays; or None."""
    import numpy as np

    from cs231n_utils.checks import to_numpy

    if value is None:
        return {"t": "none"}
    if isinstance(value, list | tuple):
        kinds = sorted({_kind(v) for v in value})
        if kinds and set(kinds) <= {"bool", "int", "float"}:
            return {**_array(np.asarray(value, dtype=np.float64)), "items": kinds}
        if all(v is None or isinstance(v, str | bool | int | float) for v in value):
            if len(value) <= MAX_ELEMENTS and all(
                len(v) <= MAX_TEXT for v in value if isinstance(v, str)
            ):
                return {"t": "values", "v": list(value)}  # None and strings as well
            return {"t": "large"}
        if depth == 0 and len(value) <= MAX_ITEMS:
            return {"t": "list", "items": [encode(v, depth + 1) for v in value]}
        return {"t": "other"}
    try:
        array = np.asarray(to_numpy(value))
    except Exception:
        return {"t": "other"}
    if array.dtype.kind not in "biuf":
        return {"t": "other"}
    return {**_array(array), "kind": _kind(value)}


def _array(array) -> dict:
    import numpy as np

    if array.size > MAX_ELEMENTS:
        return {"t": "large"}
    data = array.astype(np.float64).ravel().tolist()  # NaN and inf travel as JSON's NaN, Infinity
    return {"t": "array", "dtype": array.dtype.str, "shape": list(array.shape), "data": data}


class Answers:
    """The probe's result, shown on a MIME type of its own so that it travels apart from
    anything the student's code prints."""

    def __init__(self, document: str):
        self.document = document

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {MIME: self.document}


def run_probe(test_source: str, max_bytes: int) -> Answers:
    """Run one graded test cell, hidden tests included, in the notebook's namespace, and
    return its answers. An exception ends the test: its class name is kept (the grader
    names it only if it is on its own list), never its message."""
    global _recording
    from IPython import get_ipython

    namespace = get_ipython().user_ns
    _recording = answers = []
    end: dict = {"end": "ok"}
    try:
        exec(compile(test_source, "<graded test>", "exec"), namespace)
    except BaseException as error:  # whatever the test or the student's code raised
        end = {"end": "error", "error": type(error).__name__[:100]}
    finally:
        _recording = None
    global _last
    document = json.dumps({"answers": answers, **end})
    if len(document) > max_bytes:
        document = json.dumps({"answers": [], "end": "too_large"})
    _last = document
    return Answers(document)


def last_answers() -> Answers | None:
    """The last probe's document again: the grader asks for it when the message that carried
    it was lost (its receive queue is small on purpose and drops messages in a flood)."""
    return None if _last is None else Answers(_last)
