"""The trust boundary's parser: a student's answers, as the kernel sent them, read back.

The kernel chose every byte of what it sent. Nothing here allocates more than a fixed cap
(each array's size is its data list's own length, never a declared one), and anything that
is not what cs231n_utils.graded.encode writes is Malformed: that question's zero, not a
crash. Trusted side: imports nothing that runs in the student's kernel.
"""

from __future__ import annotations

import math

import numpy as np

MAX_ELEMENTS = 1_000_000  # per decoded array: matches cs231n_utils.graded.MAX_ELEMENTS
MAX_ITEMS = 64  # arrays in one answer (a model's parameters)
MAX_ANSWERS = 2_000  # per question


class Malformed(ValueError):
    """An answer that is not what graded.encode writes: the student's zero, not a crash."""


def answers_of(document) -> list[dict]:
    """The answer records of a document, each a dict; Malformed when there is no such list."""
    if not isinstance(document, dict):
        raise Malformed("not an object")
    answers = document.get("answers")
    if not isinstance(answers, list) or len(answers) > MAX_ANSWERS:
        raise Malformed("no answers")
    if not all(isinstance(a, dict) for a in answers):
        raise Malformed("bad answer")
    return answers


def decode(slot) -> np.ndarray | list | None:
    """An encoded answer as a float64 array (its original dtype's kind kept in `.dtype` of
    the record), a list of such arrays, or None. Raises Malformed for anything else."""
    if not isinstance(slot, dict):
        raise Malformed("not an object")
    kind = slot.get("t")
    if kind == "none":
        return None
    if kind == "values":
        values = _bounded_list(slot.get("v"), MAX_ELEMENTS)
        if not all(
            v is None or isinstance(v, int | float | bool) or _short_text(v) for v in values
        ):
            raise Malformed("bad value")
        return values
    if kind == "list":
        return [_decode_array(item) for item in _bounded_list(slot.get("items"), MAX_ITEMS)]
    return _decode_array(slot)


def _bounded_list(value, cap: int) -> list:
    if not isinstance(value, list) or len(value) > cap:
        raise Malformed("not a list, or too long")
    return value


def _short_text(value) -> bool:
    return isinstance(value, str) and len(value) <= 200


def _decode_array(slot) -> np.ndarray:
    if not isinstance(slot, dict) or slot.get("t") != "array":
        raise Malformed("not an array")
    shape, data = slot.get("shape"), slot.get("data")
    if not isinstance(shape, list) or len(shape) > 8:
        raise Malformed("bad shape")
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape):
        raise Malformed("bad shape")
    if not isinstance(data, list) or len(data) > MAX_ELEMENTS or len(data) != math.prod(shape):
        raise Malformed("bad data")  # the list's own length, never a declared one, is used
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in data):
        raise Malformed("bad numbers")
    return np.asarray(data, dtype=np.float64).reshape(shape)


def _dtype_kind(slot: dict) -> str:
    dtype = slot.get("dtype")
    return dtype[1] if isinstance(dtype, str) and len(dtype) > 1 else "?"
