"""The trusted half of grading: verdicts on the answers a student's kernel handed back.

A graded test's hidden part calls the student's functions on hidden inputs and hands what they
returned to `cs231n_utils.graded.answer`; the kernel sends those answers here as JSON. The
references are the course solution's answers to the same hidden test, from the grader's own
runs of the solution notebook. Each student answer is judged against the solution's answer at
the same position, by the rule, tolerance and wording of the *solution's* record, with
NumPy in this process. Nothing the kernel sends decides a rule, sizes an allocation beyond
a fixed cap, or appears in a message: messages are written here, from the solution's names,
case descriptions and hints and from numbers computed here (a relative error, a factor), and
never show a value computed on a hidden input.

Trusted side: imports nothing that runs in the student's kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from autograder.redaction import exception_kind, with_article

MAX_ELEMENTS = 1_000_000  # per decoded array: matches cs231n_utils.graded.MAX_ELEMENTS
MAX_ITEMS = 64
MAX_ANSWERS = 2_000  # per question
STABLE_TOL = 1e-9  # two runs of the solution agree this well on a deterministic answer
# rules that compare with the solution's value (or keep one for a later comparison)
DETERMINISTIC = ("close", "equal", "floats", "recorded")


class Malformed(ValueError):
    """An answer that is not what graded.encode writes: the student's zero, not a crash."""


@dataclass
class Verdict:
    passed: bool
    messages: list[str] = field(default_factory=list)
    hint: str = ""


# ------------------------------------------------------------------------------- decoding


def decode(slot) -> np.ndarray | list | None:
    """An encoded answer as a float64 array (its original dtype's kind kept in `.dtype` of
    the record), a list of such arrays, or None. Raises Malformed for anything else."""
    if not isinstance(slot, dict):
        raise Malformed("not an object")
    kind = slot.get("t")
    if kind == "none":
        return None
    if kind == "values":
        values = slot.get("v")
        if not isinstance(values, list) or len(values) > MAX_ELEMENTS:
            raise Malformed("bad values")
        for v in values:
            if not (v is None or isinstance(v, int | float | bool) or _short_text(v)):
                raise Malformed("bad value")
        return values
    if kind == "list":
        items = slot.get("items")
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise Malformed("bad list")
        return [_decode_array(item) for item in items]
    return _decode_array(slot)


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


# ---------------------------------------------------------------------------------- rules


def _where(ref: dict) -> str:
    return f" on a hidden case ({ref['case']})" if ref.get("case") else " on a hidden case"


def _relative_error(x: np.ndarray, y: np.ndarray) -> float:
    """max |x - y| / max(|x| + |y|, 1e-8), elementwise: gradcheck.rel_error's definition."""
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(x) + np.abs(y), 1e-8)))


def _compare(name: str, mine, theirs, tol: float, where: str) -> str | None:
    if isinstance(theirs, list) and not all(isinstance(t, np.ndarray) for t in theirs):
        # plain values (strings, None, numbers): equal, item by item
        if not isinstance(mine, list) or len(mine) != len(theirs):
            return f"{name}: another number of items{where} than the solution's"
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            if type(a) is not type(b) or a != b:
                return f"{name}: item {i} differs from the solution's{where}"
        return None
    if isinstance(theirs, list):
        if not isinstance(mine, list) or len(mine) != len(theirs):
            count = len(mine) if isinstance(mine, list) else "not a list of"
            return f"{name}: {count} arrays{where}, not the {len(theirs)} expected"
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            failure = _compare(f"{name}[{i}]", a, b, tol, where)
            if failure:
                return failure
        return None
    if mine is None:
        return f"{name} is None{where}: is the exercise finished?"
    if not isinstance(mine, np.ndarray):
        return f"{name} should be an array of numbers{where}"
    if mine.shape != theirs.shape:
        return f"{name} has shape {mine.shape}{where}, not the shape the solution returns"
    if not np.all(np.isfinite(mine)):
        return f"{name} contains NaN or inf{where}"
    error = _relative_error(mine, theirs)
    if error > tol:
        return f"{name} is off by a relative error of {error:.1e}{where} (allowed {tol:.0e})"
    return None


def _close(mine, ref, theirs, answers) -> str | None:
    return _compare(ref["name"], mine, theirs, max(float(ref.get("tol", 0.0)), 0.0), _where(ref))


def _equal(mine, ref, theirs, answers) -> str | None:
    return _compare(ref["name"], mine, theirs, 0.0, _where(ref))


def _type_failure(slot, ref: dict) -> str | None:
    """With the rule's `same_type`, the array type and dtype must be the solution's (both
    named from the solution's record and a fixed vocabulary, never from the kernel)."""
    theirs = ref["value"]
    if not ref["params"].get("same_type") or theirs.get("t") != "array":
        return None
    if not isinstance(slot, dict) or (slot.get("kind"), slot.get("dtype")) != (
        theirs.get("kind"),
        theirs.get("dtype"),
    ):
        dtype = np.dtype(theirs["dtype"]).name
        return f"{ref['name']} should be a {theirs.get('kind')} array of dtype {dtype}{_where(ref)}"
    return None


def _floats(mine, ref, theirs, answers, slot=None) -> str | None:
    name, where = ref["name"], _where(ref)
    if not isinstance(mine, np.ndarray) or slot is None or slot.get("items") != ["float"]:
        return f"{name} should be a list of Python floats{where} (use loss.item() or float())"
    if mine.shape != theirs.shape:
        return f"{name} has {mine.size} entries{where}, expected {theirs.size}"
    return None


def _permutations(mine, ref, theirs, answers) -> str | None:
    name, where = ref["name"], _where(ref)
    if not isinstance(mine, np.ndarray) or mine.ndim != 2 or mine.shape != theirs.shape:
        return f"{name}: not {len(theirs)} epochs of {theirs.shape[1]} indices{where}"
    n = mine.shape[1]
    for epoch, row in enumerate(mine):
        if not np.array_equal(np.sort(row), np.arange(n)):
            return f"{name}: epoch {epoch} does not hold every index exactly once{where}"
    if np.array_equal(mine[0], np.arange(n)):
        return f"{name}: the first epoch is in index order{where}: nothing was shuffled"
    if all(np.array_equal(row, mine[0]) for row in mine):
        return f"{name}: every epoch came in the same order{where}"
    return None


def _same_as(mine, ref, theirs, answers) -> str | None:
    """Equal to this student's own earlier answer `of` (within `tol`, when it is above 0):
    a consistency the solution's values cannot decide, such as an update that is exactly
    the learning rate times the student's own gradient."""
    earlier = answers.get(str(ref["params"].get("of")))
    name, where, of = ref["name"], _where(ref), ref["params"].get("of")
    mine, earlier = _arrays(mine), _arrays(earlier)
    if mine is None or earlier is None:
        return f"{name}: nothing to compare with{where}"
    if [a.shape for a in mine] != [b.shape for b in earlier]:
        return f"{name}: has another shape than {of}{where}; it should be the same"
    tol = max(float(ref.get("tol", 0.0)), 0.0) if ref["params"].get("close") else 0.0
    for a, b in zip(mine, earlier, strict=True):
        if not np.all(np.isfinite(a)) or _relative_error(a, b) > tol:
            return f"{name}: differs from {of}{where}; it should be the same"
    return None


def _arrays(value) -> list[np.ndarray] | None:
    """An answer as a list of arrays (one array is a list of one), or None."""
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
        return value
    return None


def _recorded(mine, ref, theirs, answers) -> str | None:
    """Not judged by itself: kept for a later same_as or differs_from."""
    return None


def _differs_from(mine, ref, theirs, answers) -> str | None:
    earlier = answers.get(str(ref["params"].get("of")))
    name, where = ref["name"], _where(ref)
    if earlier is None or not isinstance(mine, np.ndarray) or not isinstance(earlier, np.ndarray):
        return f"{name}: nothing to compare with{where}"
    if mine.shape == earlier.shape and np.array_equal(mine, earlier):
        return f"{name}: the same as {ref['params'].get('of')}{where}; it should differ"
    return None


def _accuracy(mine, ref, theirs, answers) -> str | None:
    """Predicted labels against the solution run's labels `given["y"]`."""
    labels = decode(ref["given"]["y"])
    name, where = ref["name"], _where(ref)
    if not isinstance(mine, np.ndarray) or mine.shape != labels.shape:
        return f"{name}: expected one predicted label per example{where}"
    accuracy = float(np.mean(mine == labels))
    if accuracy < float(ref["params"]["min_accuracy"]):
        return (
            f"{name}: accuracy {accuracy:.1%}{where}; at least "
            f"{float(ref['params']['min_accuracy']):.0%} is needed"
        )
    return None


def _true(mine, ref, theirs, answers) -> str | None:
    if not isinstance(mine, np.ndarray) or mine.size != 1 or not bool(mine.ravel()[0]):
        return f"{ref['name']}: does not hold{_where(ref)}"
    return None


def _at_most(mine, ref, theirs, answers) -> str | None:
    bound = float(ref["params"]["bound"])
    if not isinstance(mine, np.ndarray) or mine.size != 1 or not np.isfinite(mine).all():
        return f"{ref['name']} should be one number{_where(ref)}"
    value = float(mine.ravel()[0])
    if value > bound:
        return f"{ref['name']} is {value:g}{_where(ref)}; at most {bound:g} is allowed"
    return None


def mlp_forward(params: list[np.ndarray], x: np.ndarray, layout: str) -> np.ndarray:
    """Logits of a ReLU MLP. layout "plain": [w1, w2, ...] with x @ w and no biases;
    "keras": [kernel, bias, ...] with x @ kernel + bias; "torch": [weight, bias, ...] with
    x @ weight.T + bias."""
    step = 1 if layout == "plain" else 2
    h = x
    for i in range(0, len(params), step):
        w = params[i].T if layout == "torch" else params[i]
        h = h @ w + (params[i + 1] if step == 2 else 0.0)
        if i + step < len(params):
            h = np.maximum(h, 0.0)
    return h


def mlp_loss(logits: np.ndarray, y: np.ndarray, loss: str) -> float:
    if loss == "mse":
        return float(np.sum((logits - y) ** 2) / len(logits))
    z = logits - logits.max(axis=1, keepdims=True)
    labels = y.astype(np.int64).ravel()
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]))


def _trained_mlp(mine, ref, theirs, answers) -> str | None:
    """The loss of the returned parameters, recomputed here on the solution's training data,
    must be `factor` times below the loss of the starting parameters; optionally the held-out
    accuracy must reach `min_accuracy`."""
    name, where, params = ref["name"], _where(ref), ref["params"]
    given = {key: decode(value) for key, value in ref["given"].items()}
    start = given["start"]
    if not isinstance(mine, list) or len(mine) != len(start):
        return f"{name}: expected {len(start)} parameter arrays{where}"
    for got, first in zip(mine, start, strict=True):
        if not isinstance(got, np.ndarray) or got.shape != first.shape:
            return f"{name}: a parameter has another shape than the model's{where}"
        if not np.all(np.isfinite(got)):
            return f"{name} contain NaN or inf{where}: the training diverged"
    layout, loss = params.get("layout", "plain"), params.get("loss", "mse")
    x, y = given["x"], given["y"]
    before = mlp_loss(mlp_forward(start, x, layout), y, loss)
    after = mlp_loss(mlp_forward(mine, x, layout), y, loss)
    factor = float(params.get("factor", 1.0))
    if not after * factor <= before:
        achieved = before / after if after > 0 else math.inf
        return (
            f"{name}: the training loss of the returned parameters, recomputed by the grader, "
            f"fell by a factor of {achieved:.3g}{where}; at least {factor:g} is needed"
        )
    if "min_accuracy" in params:
        logits = mlp_forward(mine, given["x_val"], layout)
        accuracy = float(np.mean(logits.argmax(axis=1) == given["y_val"].astype(np.int64)))
        if accuracy < float(params["min_accuracy"]):
            return (
                f"{name}: held-out accuracy {accuracy:.1%}{where}, recomputed by the grader; "
                f"at least {float(params['min_accuracy']):.0%} is needed"
            )
    return None


Rule = Callable[..., str | None]
RULES: dict[str, Rule] = {
    "close": _close,
    "equal": _equal,
    "floats": _floats,
    "permutations": _permutations,
    "same_as": _same_as,
    "recorded": _recorded,
    "differs_from": _differs_from,
    "true": _true,
    "at_most": _at_most,
    "trained_mlp": _trained_mlp,
    "accuracy": _accuracy,
}


# -------------------------------------------------------------------------------- verdicts


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


def judge(document, reference: dict) -> Verdict:
    """Whether a question's answers earn its points.

    document: what the student's kernel returned ({"answers": [...], "end": ...}), or None.
    reference: the solution's document for the same question (trusted).
    """
    ref_answers = reference["answers"]
    if document is None:
        return Verdict(False, ["the hidden tests returned no answers (did the cell finish?)"])
    try:
        answers = answers_of(document)
    except Malformed:
        return Verdict(False, ["the hidden tests' answers could not be read"])
    if document.get("end") == "too_large":
        return Verdict(False, ["the answers handed to the grader were too large to grade"])
    mine_by_name: dict[str, object] = {}
    for i, ref in enumerate(ref_answers):
        if i >= len(answers):
            return _stopped(document, ref, i, len(ref_answers))
        record = answers[i]
        if record.get("name") != ref["name"]:
            return Verdict(
                False, ["the hidden tests' answers came in another order than the course's"]
            )
        try:
            mine = decode(record.get("value"))
            theirs = decode(ref["value"])
        except Malformed:
            return Verdict(False, [f"{ref['name']}: the answer could not be read{_where(ref)}"])
        failure = _type_failure(record.get("value"), ref)
        if failure:
            return Verdict(False, [failure], ref.get("hint", ""))
        try:
            if ref["rule"] == "floats":  # judged on how the values were held, too
                failure = _floats(mine, ref, theirs, mine_by_name, slot=record.get("value"))
            else:
                failure = RULES[ref["rule"]](mine, ref, theirs, mine_by_name)
        except (ArithmeticError, ValueError, TypeError, IndexError, KeyError):
            failure = f"{ref['name']}: the answer could not be judged{_where(ref)}"
        if failure:
            return Verdict(False, [failure], ref.get("hint", ""))
        mine_by_name[ref["name"]] = mine  # the latest answer of that name
    if len(answers) > len(ref_answers):
        return Verdict(False, ["the hidden tests received more answers than the course's give"])
    if document.get("end") != "ok":
        return _stopped(document, None, len(ref_answers), len(ref_answers))
    return Verdict(True)


def _stopped(document: dict, ref: dict | None, done: int, total: int) -> Verdict:
    if document.get("end") != "error":
        return Verdict(False, [f"the graded test did not finish ({done} of {total} answers)"])
    kind = with_article(exception_kind(document.get("error")))
    if done == 0:
        message = (
            f"this exercise's check stopped with {kind} before the hidden tests ran: run the "
            "check in your notebook, it says what is wrong"
        )
    else:
        where = _where(ref) if ref else " after the last answer"
        message = (
            f"your code raised {kind}{where}, after {done} of {total} answers; the visible "
            "check passed, so the difference is in a case it does not try"
        )
    return Verdict(False, [message], ref.get("hint", "") if ref else "")


# ------------------------------------------------------------------------------ references


def check_reference(first: dict, second: dict, label: str) -> list[str]:
    """Problems of a question's two solution runs: answers a rule cannot judge, answers that
    compare with the solution's value but differ between runs, and a solution that fails
    its own rules. Empty when the question can be graded."""
    problems = []
    try:
        one, two = answers_of(first), answers_of(second)
    except Malformed:
        return [f"{label}: the solution's hidden tests handed back no answers"]
    if first.get("end") != "ok" or not one:
        return [f"{label}: the solution's hidden tests did not finish with answers"]
    if [a.get("name") for a in one] != [a.get("name") for a in two]:
        return [f"{label}: the two solution runs gave different answers"]
    for a, b in zip(one, two, strict=True):
        if a.get("rule") not in RULES:
            problems.append(f"{label} {a.get('name')}: unknown rule {a.get('rule')!r}")
        elif a["rule"] in DETERMINISTIC:
            x, y = decode(a["value"]), decode(b["value"])
            if _compare(a["name"], x, y, STABLE_TOL, "") is not None:
                problems.append(
                    f"{label} {a['name']}: differs between two runs of the solution; seed it, "
                    "or judge it by a property rule"
                )
    if not problems:
        verdict = judge(first, first)
        if not verdict.passed:
            problems.append(f"{label}: the solution fails its own hidden tests: {verdict.messages}")
    return problems
