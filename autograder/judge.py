"""The trusted half of grading: verdicts on the values a student's kernel recorded.

For each graded test cell the kernel returns what every check was given (autograder/
recorder.py). Here, in the grader's own process, each check is run again on those values
with the course's real `cs231n_utils.checks`, and each record is tied to the solution
notebook's record of the same check: at least one of its values must match the solution's
on the hidden inputs. A kernel that patched NumPy or the checks, skipped the test, or forged
records therefore gains nothing: passing needs the values the solution produces.

Values that differ between two runs of the solution itself (timings, unseeded randomness)
cannot tie a record to the solution; `stable_slots` finds them, and only the recomputed
verdict applies to those.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np

from cs231n_utils import checks
from cs231n_utils.gradcheck import rel_error

# How close a value must be to the solution's to count as the same answer. Looser than the
# checks' own tolerances on purpose: a correct solution written differently sums in another
# order (float32 in the TensorFlow notebooks); a wrong one is off by far more.
ANCHOR_TOL = 1e-4
# Which records tie a question to the solution. Comparisons (close, gradient) are; a loss
# history is tied by its first value only (training from the same start, the end of a
# correct variant may land elsewhere). Format checks (ready, length, array, scalar) accept
# any value of the right kind, so they tie a question only when it has no comparison, as
# when a test compares a count itself.
VALUE_KINDS = ("close", "gradient", "loss_decrease")
STABLE_TOL = 1e-9  # two runs of the solution agree this well on a deterministic value
MESSAGE_CHARS = 600


@dataclass
class Verdict:
    passed: bool
    messages: list[str] = field(default_factory=list)


def decode(slot: dict | None):
    """A recorded value back as NumPy, None, or an opaque stand-in named like the original."""
    if slot is None or slot.get("t") == "none":
        return None
    if slot.get("t") == "array":
        data = np.asarray(slot["data"], dtype=np.float64).reshape(slot["shape"])
        return data.astype(np.dtype(slot["dtype"]))
    if slot.get("t") == "seq":
        return [0.0] * int(slot["len"])
    name = str(slot.get("type", "object"))[:60] if slot.get("t") == "object" else "array"
    return type(name if name.isidentifier() else "object", (), {})()


def _same(a: dict | None, b: dict | None, tol: float) -> bool:
    """Whether two recorded numeric values agree (shape, then relative error)."""
    if not a or not b or a.get("t") != b.get("t"):
        return False
    if a["t"] == "seq":
        return a["len"] == b["len"]
    if a["t"] != "array" or a["shape"] != b["shape"]:
        return False
    x, y = np.asarray(a["data"], dtype=np.float64), np.asarray(b["data"], dtype=np.float64)
    if x.size == 0:
        return True
    if not np.array_equal(np.isfinite(x), np.isfinite(y)):
        return False
    finite = np.isfinite(x)
    if not np.array_equal(x[~finite], y[~finite]):
        return False
    return bool(rel_error(x[finite], y[finite]) <= tol) if finite.any() else True


def stable_slots(first: list[dict], second: list[dict]) -> list[list[str]]:
    """For each record of a solution run, the slots whose values a second run reproduced."""
    stable = []
    for i, record in enumerate(first):
        other = second[i] if i < len(second) else {"slots": {}}
        stable.append(
            [
                slot
                for slot, value in record["slots"].items()
                if value.get("t") in ("array", "seq")
                and _same(value, other["slots"].get(slot), STABLE_TOL)
            ]
        )
    return stable


def _recheck(record: dict, reference: dict) -> None:
    """Run the record's check again here, on its values; raise checks.CheckFailed."""
    kind, params = reference["kind"], reference["params"]
    name = reference["name"]  # the solution's wording: nothing from the kernel is echoed
    slots = record["slots"]
    with contextlib.redirect_stdout(io.StringIO()):
        if kind == "ready":
            checks.check_ready(name, decode(slots.get("value")))
        elif kind == "length":
            got = slots.get("got")
            if got and got.get("t") == "object":
                raise checks.CheckFailed(f"{name} should be a list, got a {got.get('type')}.")
            checks.check_length(name, decode(got), params["length"])
        elif kind == "array":
            checks.check_array(
                name, decode(slots.get("got")), shape=params["shape"], floating=params["floating"]
            )
        elif kind == "scalar":
            checks.check_scalar(name, decode(slots.get("got")))
        elif kind == "close":
            expected = decode(slots.get("expected"))
            if not isinstance(expected, np.ndarray):
                raise checks.CheckFailed(f"{name}: the test's reference could not be computed.")
            checks.check_close(name, decode(slots.get("got")), expected, tol=params["tol"])
        elif kind == "gradient":
            analytic = checks.check_array(name, decode(slots.get("analytic")), params["shape"])
            numeric = decode(slots.get("numeric"))
            if not isinstance(numeric, np.ndarray):
                raise checks.CheckFailed(f"{name}: the numerical gradient could not be computed.")
            checks.check_close(name, analytic, numeric, tol=params["tol"])
        elif kind == "loss_decrease":
            checks.check_loss_decrease(decode(slots.get("losses")), params["factor"], name=name)
        else:
            raise checks.CheckFailed(f"unknown check {kind!r}")


def _first(slot: dict | None) -> dict | None:
    if not slot or slot.get("t") != "array" or not slot["data"]:
        return slot
    return {**slot, "shape": [1], "data": slot["data"][:1]}


def _anchor_failure(record: dict, reference: dict, stable: list[str]) -> str | None:
    """None when the record matches the solution on one of its stable values; else why not."""
    if not stable:
        return None
    tol = max(ANCHOR_TOL, reference["params"].get("tol", 0.0))
    mine = dict(record["slots"])
    theirs = dict(reference["slots"])
    if reference["kind"] == "loss_decrease":
        mine["losses"], theirs["losses"] = _first(mine.get("losses")), _first(theirs["losses"])
    if any(_same(mine.get(s), theirs[s], tol) for s in stable):
        return None
    slot = stable[0]
    mine, theirs = mine.get(slot) or {}, theirs[slot]
    if mine.get("t") == "array" and mine.get("shape") == theirs.get("shape"):
        error = rel_error(decode(mine).astype(np.float64), decode(theirs).astype(np.float64))
        detail = f"relative error {error:.1e} on the grader's inputs"
    else:
        detail = "a different shape or type on the grader's inputs"
    return (
        f"{reference['name']}: does not match the course's solution ({detail}). Your own check "
        "passed, so the difference is in a case the visible test does not try."
    )


def sanitize(text: str, secret_lines: set[str]) -> str:
    """A kernel's message, shortened, with any line of hidden test source removed."""
    lines = [
        line
        for line in str(text).splitlines()
        if not any(secret in line for secret in secret_lines)
    ]
    text = "\n".join(lines) if lines else "(message withheld)"
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 3] + "..."


def judge(document: dict | None, reference: dict, secret_lines: set[str] = frozenset()) -> Verdict:
    """Whether a question's records earn its points.

    document: what the student's kernel returned ({"records": [...], "end": ...}), or None.
    reference: {"records": [...], "stable": [[slot, ...], ...]} from the solution notebook.
    secret_lines: lines of hidden test source that must not appear in a message.
    """
    if document is None:
        return Verdict(False, ["the graded checks produced no result (was the kernel busy?)"])
    if document.get("end") == "too_large":
        return Verdict(False, ["the values given to the checks were too large to grade"])
    records, ref_records = document.get("records") or [], reference["records"]
    compares = any(r["kind"] in VALUE_KINDS for r in ref_records)
    for i, record in enumerate(records):
        if i >= len(ref_records):
            return Verdict(False, ["the test ran more checks than the course's solution does"])
        ref = ref_records[i]
        if record.get("kind") != ref["kind"]:
            return Verdict(False, [f"{ref['name']}: the checks ran in an unexpected order"])
        try:
            _recheck(record, ref)
        except checks.CheckFailed as failure:
            return Verdict(False, [str(failure)])
        except Exception as error:  # a record the checks cannot read: malformed, not a pass
            return Verdict(False, [f"{ref['name']}: unreadable record ({type(error).__name__})"])
        if record.get("outcome") == "failed":  # the kernel's check failed; ours did not
            return Verdict(False, [f"{ref['name']}: the check failed in your notebook"])
        tied = ref["kind"] in VALUE_KINDS or not compares
        failure = _anchor_failure(record, ref, reference["stable"][i]) if tied else None
        if failure:
            return Verdict(False, [failure])
    if document.get("end") == "error":
        kind = str(document.get("type", "Exception"))[:80]
        message = sanitize(document.get("message", ""), secret_lines)
        if document.get("check_failed"):
            return Verdict(False, [message])
        return Verdict(False, [f"your code raised {kind}: {message}"])
    if document.get("end") != "ok":
        return Verdict(False, ["the graded checks did not finish"])
    if len(records) != len(ref_records):
        return Verdict(False, [f"only {len(records)} of the {len(ref_records)} graded checks ran"])
    return Verdict(True)
