"""The trusted judge on hand-made records: forged, tampered and honest ones."""

from __future__ import annotations

import copy

import numpy as np

from autograder.judge import decode, judge, sanitize, stable_slots
from autograder.recorder import encode


def close(name, got, expected, tol=1e-7, outcome="ok"):
    return {
        "kind": "close",
        "name": name,
        "slots": {"got": encode(np.asarray(got)), "expected": encode(np.asarray(expected))},
        "params": {"tol": tol},
        "outcome": outcome,
    }


def reference(*records, stable=None):
    records = list(records)
    return {"records": records, "stable": stable or [list(r["slots"]) for r in records]}


REF = reference(close("loss", 2.5, 2.5), close("grad", [1.0, 2.0], [1.0, 2.0]))


def doc(*records, end="ok", **extra):
    return {"records": list(records), "end": end, **extra}


def test_the_solutions_own_records_pass():
    """Do records equal to the solution's pass?"""
    assert judge(doc(*REF["records"]), REF).passed


def test_a_wrong_value_fails_with_the_checks_message():
    """Is a wrong value caught by the recomputed check, with expected/got in the message?"""
    verdict = judge(doc(close("loss", 3.0, 2.5), REF["records"][1]), REF)
    assert not verdict.passed and "loss is wrong" in verdict.messages[0]


def test_forged_agreement_does_not_pass():
    """A kernel that reports got == expected for made-up values (a patched check or an input
    transformer) agrees with itself but not with the solution: does it fail?"""
    verdict = judge(doc(close("loss", 7.0, 7.0), close("grad", [0.0, 0.0], [0.0, 0.0])), REF)
    assert not verdict.passed and "does not match the course's solution" in verdict.messages[0]


def test_no_records_or_fewer_records_fail():
    """Is a skipped test (no records, `end: ok`) or a shortened one a failure?"""
    assert not judge(doc(), REF).passed
    assert not judge(doc(REF["records"][0]), REF).passed
    assert not judge(None, REF).passed
    assert not judge(doc(*REF["records"], end="too_large"), REF).passed


def test_an_error_fails_and_hidden_source_is_redacted():
    """Does an exception fail the question without echoing hidden test lines?"""
    secret = "check_two_layer_loss(n=9, d=3, h=7, c=2, seed=231)"
    verdict = judge(
        doc(REF["records"][0], end="error", type="ValueError", message=f"bad\n{secret}"),
        REF,
        secret_lines={secret},
    )
    assert not verdict.passed and secret not in verdict.messages[0] and "ValueError" in str(verdict)


def test_a_check_that_failed_in_the_kernel_fails_here_too():
    """If the kernel's check failed but the values look fine, is it still a failure?"""
    record = copy.deepcopy(REF["records"][0])
    record["outcome"] = "failed"
    assert not judge(doc(record, REF["records"][1]), REF).passed


def test_unstable_values_are_judged_by_the_check_alone():
    """A timing differs between two solution runs: is any self-consistent value accepted,
    while a stable value still ties the question to the solution?"""
    first = [close("time", 1.0, 1.0), close("flops", 8.0, 8.0)]
    second = [close("time", 1.3, 1.3), close("flops", 8.0, 8.0)]
    ref = {"records": first, "stable": stable_slots(first, second)}
    assert ref["stable"] == [[], ["got", "expected"]]
    assert judge(doc(close("time", 5.0, 5.0), close("flops", 8.0, 8.0)), ref).passed
    assert not judge(doc(close("time", 5.0, 5.0), close("flops", 9.0, 9.0)), ref).passed


def test_a_loss_history_is_tied_by_its_start():
    """Is a decreasing loss accepted from the solution's starting loss, and a history that
    starts elsewhere (a forged one) refused?"""

    def loss(values):
        return {
            "kind": "loss_decrease", "name": "loss", "params": {"factor": 10.0},
            "slots": {"losses": encode(np.asarray(values))}, "outcome": "ok",
        }  # fmt: skip

    ref = reference(loss([5.0, 0.1]))
    assert judge(doc(loss([5.0, 0.3])), ref).passed
    assert not judge(doc(loss([5.0, 1.0])), ref).passed  # not 10x
    assert not judge(doc(loss([1.0, 0.01])), ref).passed  # another start


def test_format_checks_tie_a_question_without_comparisons():
    """A question with only a scalar check (a count the test compares itself): is the count
    tied to the solution's?"""

    def scalar(value):
        return {"kind": "ready", "name": "count", "params": {},
                "slots": {"value": encode(value)}, "outcome": "ok"}  # fmt: skip

    ref = reference(scalar(20))
    assert judge(doc(scalar(20)), ref).passed
    assert not judge(doc(scalar(21)), ref).passed


def test_decode_keeps_dtype_and_names_objects():
    """Does an int array stay int (so an int gradient still fails), and an object keep its
    type's name for the message?"""
    assert decode(encode(np.arange(3))).dtype.kind == "i"
    assert type(decode({"t": "object", "type": "dict"})).__name__ == "dict"
    assert decode({"t": "none"}) is None


def test_sanitize_shortens():
    assert len(sanitize("x" * 5000, set())) <= 600
    assert sanitize("secret line here", {"secret line here"}) == "(message withheld)"
