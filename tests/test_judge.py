"""The trusted judge on hand-made answers: honest, wrong, forged and malformed ones."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from autograder.grading.judge import Malformed, check_reference, decode, judge
from autograder.grading.runner import _parse
from cs231n_utils import graded


def answers(*calls, end="ok", error=None):
    """A document as the kernel sends it, from graded.answer calls (name, value, kwargs)."""
    graded._recording = recorded = []
    try:
        for name, value, kwargs in calls:
            graded.answer(name, value, **kwargs)
    finally:
        graded._recording = None
    document = {"answers": recorded, "end": end, **({"error": error} if error else {})}
    return json.loads(json.dumps(document))  # as it travels


W1, W2 = np.random.default_rng(0).standard_normal((2, 3)), np.arange(4.0)
REF = answers(
    ("loss", 2.5, {"case": "a batch of one example", "hint": "divide by N"}),
    ("dloss/dw", [W1, W2], {}),
)


def test_the_solutions_own_answers_pass():
    """Do answers equal to the solution's pass, and pass check_reference?"""
    assert judge(REF, REF).passed
    assert check_reference(REF, copy.deepcopy(REF), "q") == []


def test_a_wrong_value_fails_without_showing_the_answer():
    """Does a wrong value fail with how far off it is, the case and the hint, and no value
    computed on the hidden input?"""
    wrong = answers(("loss", 3.1415, {}), ("dloss/dw", [W1, W2], {}))
    verdict = judge(wrong, REF)
    assert not verdict.passed
    text = " ".join(verdict.messages)
    assert "relative error" in text and "a batch of one example" in text
    assert verdict.hint == "divide by N"
    assert "2.5" not in text and "3.14" not in text


def test_the_kernels_rule_tolerance_and_wording_are_ignored():
    """A kernel that claims a lax rule, a huge tolerance, other names in the message or
    `given` data of its own gains nothing: the solution's record decides."""
    forged = answers(
        ("loss", 99.0, {"rule": "true", "tol": 1e9, "case": "<script>x</script>"}),
        ("dloss/dw", [W1, W2], {"rule": "same_as", "of": "loss"}),
    )
    verdict = judge(forged, REF)
    assert not verdict.passed and "<script>" not in " ".join(verdict.messages)


def test_missing_extra_and_reordered_answers_fail():
    """Fewer answers, more answers, or answers in another order than the solution's fail."""
    first, second = REF["answers"]
    assert not judge({"answers": [first], "end": "ok"}, REF).passed
    assert not judge({"answers": [first, second, second], "end": "ok"}, REF).passed
    assert not judge({"answers": [second, first], "end": "ok"}, REF).passed
    assert not judge({"answers": [first, second], "end": "error", "error": "X"}, REF).passed
    assert not judge(None, REF).passed


@pytest.mark.parametrize(
    ("error", "shown"),
    [("TypeError", "a TypeError"), ("<img src=x onerror=alert(1)>", "another exception"),
     ("def test(): secret_hidden_line()", "another exception"), (["list"], "another exception")],
)  # fmt: skip
def test_an_error_is_named_only_from_the_fixed_list(error, shown):
    """Is the exception the kernel reports named only when it is on the grader's list?"""
    first = REF["answers"][0]
    verdict = judge({"answers": [first], "end": "error", "error": error}, REF)
    assert not verdict.passed and shown in verdict.messages[0]
    assert str(error) not in verdict.messages[0] or error == "TypeError"


@pytest.mark.parametrize(
    "document",
    [{"answers": [1]}, {"answers": "x"}, {"records": []}, [], "text", {"answers": [{}]},
     {"answers": [{"name": "loss", "value": {"t": "array", "shape": [10**9], "data": []}}]},
     {"answers": [{"name": "loss", "value": {"t": "array", "shape": [2], "data": ["a", "b"]}}]},
     {"answers": [{"name": "loss", "value": {"t": "list", "items": [{}] * 1000}}]}],
)  # fmt: skip
def test_malformed_documents_are_a_zero_not_a_crash(document):
    """Do malformed answers fail the question (no exception, no allocation from a declared
    size)?"""
    assert not judge(document, REF).passed


def test_decode_uses_the_datas_own_length():
    with pytest.raises(Malformed):
        decode({"t": "array", "shape": [4 * 10**8], "data": [0.0]})
    with pytest.raises(Malformed):
        decode({"t": "array", "shape": [2], "data": [True, False]})
    assert decode({"t": "array", "shape": [2, 1], "data": [1, 2.5]}).shape == (2, 1)


def test_deeply_nested_json_from_the_kernel_is_no_document():
    """A kernel's document nested far too deep is read as no document, not a crash."""
    assert _parse("[" * 200_000) is None
    assert _parse('{"answers": ' * 100_000) is None


def test_unstable_answers_compared_by_value_are_an_authoring_error():
    """A 'close' answer that differs between two runs of the solution is reported, so that
    the instructor seeds it or judges it by a property."""
    one = answers(("t", 0.123, {}))
    two = answers(("t", 0.456, {}))
    assert check_reference(one, two, "q")
    prop_one = answers(("t", 0.1, {"rule": "at_most", "bound": 1.0}))
    prop_two = answers(("t", 0.2, {"rule": "at_most", "bound": 1.0}))
    assert check_reference(prop_one, prop_two, "q") == []
    assert not judge(answers(("t", 3.0, {})), prop_one).passed


def training(params, start, x, y, **kw):
    return answers(
        (
            "trained",
            params,
            {
                "rule": "trained_mlp",
                "given": {"x": x, "y": y, "start": start},
                "factor": 10,
                "layout": "plain",
                "loss": "mse",
                **kw,
            },
        )
    )


def test_trained_parameters_are_judged_by_the_loss_the_grader_computes():
    """Is a training answer judged by the loss of the returned weights, recomputed here, so
    that untrained, diverged or wrongly shaped weights fail whatever the kernel claims?"""
    rng = np.random.default_rng(1)
    x, w_true = rng.standard_normal((50, 4)), rng.standard_normal((4, 3))
    y = np.maximum(x @ w_true, 0) @ np.eye(3)
    start = [0.1 * rng.standard_normal((4, 3)), np.eye(3)]
    ref = training([w_true, np.eye(3)], start, x, y)
    assert judge(ref, ref).passed
    assert not judge(training(start, start, x, y), ref).passed
    assert not judge(training([w_true * np.nan, np.eye(3)], start, x, y), ref).passed
    assert not judge(training([w_true.T, np.eye(3)], start, x, y), ref).passed


def test_property_rules():
    """permutations, same_as, differs_from, floats and same_type judge properties."""
    epochs = np.array([[2, 0, 1, 3], [1, 3, 0, 2]])
    ref = answers(("epochs", epochs, {"rule": "permutations"}),
                  ("again", epochs, {"rule": "same_as", "of": "epochs"}),
                  ("other", epochs[::-1], {"rule": "differs_from", "of": "epochs"}))  # fmt: skip
    assert judge(ref, ref).passed
    alternative = np.array([[3, 1, 0, 2], [0, 2, 3, 1]])  # another correct stream
    assert judge(answers(("epochs", alternative, {}), ("again", alternative, {}),
                         ("other", epochs, {})), ref).passed  # fmt: skip
    for bad in ([[0, 1, 2, 3], [1, 0, 2, 3]], [[1, 1, 2, 3], [0, 1, 2, 3]], [[1, 0, 2, 3]] * 2):
        assert not judge(answers(("epochs", np.array(bad), {}), ("again", np.array(bad), {}),
                                 ("other", epochs, {})), ref).passed  # fmt: skip
    assert not judge(answers(("epochs", epochs, {}), ("again", alternative, {}),
                             ("other", epochs, {})), ref).passed  # fmt: skip
    floats = answers(("losses", [1.0, 0.5], {"rule": "floats"}))
    assert judge(floats, floats).passed
    assert not judge(answers(("losses", [np.ones(1), np.ones(1)], {})), floats).passed
    assert not judge(answers(("losses", [1.0], {})), floats).passed
    typed = answers(("image", np.ones(3, np.float32), {"same_type": True}))
    assert judge(typed, typed).passed
    assert not judge(answers(("image", np.ones(3), {})), typed).passed
