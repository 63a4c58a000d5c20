"""The trust boundary's parser: a student's answers, as the kernel sent them, read back.

The kernel chose every byte of what it sent. `parse` refuses a document over
MAX_DOCUMENT_BYTES before decoding it and scans its bytes for nesting depth and element count
before json.loads runs (json.loads has no bound of its own: 32 MiB of `[],` decode to gigabytes
of empty lists), so that the grader's memory is bounded whatever the kernel sends. Nothing in
`decode` allocates more than a fixed cap (each array's size is its data list's own length,
never a declared one), and anything that is not what cs231n_utils.graded.encode writes is
Malformed: that question's zero, not a crash. Trusted side: imports nothing that runs in the
student's kernel.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np

MAX_ELEMENTS = 1_000_000  # per decoded array: matches cs231n_utils.graded.MAX_ELEMENTS
MAX_ITEMS = 64  # arrays in one answer (a model's parameters)
MAX_ANSWERS = 2_000  # per question
# The bounds of one answers document, with the course's largest honest ones (the solutions'
# documents, measured): 5.0 MB (08_convnets test_fast_batches), 0.27 million JSON values
# (06_data_loading test_training: its `given` data), 8 levels of nesting (a record's `given`
# list of arrays). The kernel's own cap (jobs.Settings.max_record_bytes) is the same size.
MAX_DOCUMENT_BYTES = 16 * 2**20  # x3 the largest: refused before a byte is decoded
# Values (numbers, strings, lists, objects) counted on the bytes: x14 the largest, and at
# most about 300 MB decoded (an empty list or dict is the largest, 64 bytes and a pointer).
MAX_VALUES = 4_000_000
MAX_DEPTH = 32  # x4 the deepest; json.loads itself would recurse until RecursionError
TOO_LARGE = "too_large"  # a document's "end" when it was refused for its size


class Malformed(ValueError):
    """An answer that is not what graded.encode writes: the student's zero, not a crash."""


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{},")  # all but the JSON structure


def parse(text: str | bytes | None, max_bytes: int = MAX_DOCUMENT_BYTES) -> dict | None:
    """The kernel's answers document as a dict; None when there is none or it is not JSON;
    {"answers": [], "end": "too_large"} when it is over `max_bytes` (capped at
    MAX_DOCUMENT_BYTES), MAX_VALUES or MAX_DEPTH: then it is never decoded."""
    if text is None:
        return None
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if len(data) > min(max_bytes, MAX_DOCUMENT_BYTES) or not within_bounds(data):
        return {"answers": [], "end": TOO_LARGE}
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def within_bounds(data: bytes) -> bool:
    """Whether a JSON document's values and nesting are within MAX_VALUES and MAX_DEPTH, counted on
    its bytes with strings blanked (a bracket inside a string does not nest). Counts are upper
    bounds: each value is followed by a comma or closes a list, so values <= commas + opens."""
    structure = _STRING.sub(b'""', data).translate(None, _STRUCTURE)
    opens = structure.count(b"[") + structure.count(b"{")
    if structure.count(b",") + opens + 1 > MAX_VALUES:
        return False
    if not opens:
        return True
    brackets = np.frombuffer(structure.replace(b",", b""), dtype=np.uint8)
    steps = np.isin(brackets, (ord("["), ord("{"))).view(np.int8) * np.int8(2) - np.int8(1)
    return int(np.cumsum(steps, dtype=np.int32).max()) <= MAX_DEPTH


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
    the record), a list of such arrays, a list of plain values (None, bool, finite or not
    numbers, strings of at most 200 characters), or None. Raises Malformed for anything
    else: after decode, every value a rule sees is one of these."""
    if not isinstance(slot, dict):
        raise Malformed("not an object")
    kind = slot.get("t")
    if kind == "none":
        return None
    if kind == "values":
        values = _bounded_list(slot.get("v"), MAX_ELEMENTS)
        if not all(v is None or _number(v, bools=True) or _short_text(v) for v in values):
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


def _number(value, bools: bool = False) -> bool:
    """A JSON number a float64 holds (an int of 400 digits does not), or a bool if allowed."""
    if isinstance(value, bool):
        return bools
    if isinstance(value, float):
        return True
    return isinstance(value, int) and abs(value) < 2**1023


def _decode_array(slot) -> np.ndarray:
    if not isinstance(slot, dict) or slot.get("t") != "array":
        raise Malformed("not an array")
    shape, data = slot.get("shape"), slot.get("data")
    if not isinstance(shape, list) or len(shape) > 8:
        raise Malformed("bad shape")
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in shape):
        raise Malformed("bad shape")
    if not all(0 <= n <= MAX_ELEMENTS for n in shape):  # (0, 10**30) has no data, yet no shape
        raise Malformed("bad shape")
    if not isinstance(data, list) or len(data) > MAX_ELEMENTS or len(data) != math.prod(shape):
        raise Malformed("bad data")  # the list's own length, never a declared one, is used
    if not _numbers(data):
        raise Malformed("bad numbers")
    return np.asarray(data, dtype=np.float64).reshape(shape)


def _numbers(data: list) -> bool:
    """Whether every item is a number _number accepts (no bool): checked with the types' set
    and the ints' extremes, since an array of a million items checked one call at a time took
    a third of a second per answer."""
    types = set(map(type, data))
    if not types <= {float, int}:
        return False
    if int not in types:
        return True
    ints = data if types == {int} else [x for x in data if type(x) is int]
    return max(ints) < 2**1023 and min(ints) > -(2**1023)
