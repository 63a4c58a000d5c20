"""The trusted judge on hand-made answers: honest, wrong, forged and malformed ones."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from documents import document

from autograder.grading.judging import rules
from autograder.grading.judging.answers import MAX_DOCUMENT_BYTES, parse
from autograder.grading.judging.judge import Malformed, check_reference, decode, judge

answers = document  # a document as the kernel sends it, from graded.answer calls


W1, W2 = np.random.default_rng(0).standard_normal((2, 3)), np.arange(4.0)
REF = answers(
    ("loss", 2.5, {"case": "a batch of one example", "hint": "divide by N"}),
    ("dloss/dw", [W1, W2], {}),
)


def test_the_solutions_own_answers_pass():
    """Do answers equal to the solution's pass, and pass check_reference?"""
    assert judge(REF, REF).passed
    assert check_reference(REF, copy.deepcopy(REF), "q") == []


def test_a_wrong_value_on_a_hidden_case_says_only_which_and_where():
    """Does a wrong value on a hidden case fail with the answer's name, the case and the
    hint, all from the solution's record, and nothing computed from the student's value (no
    relative error, no shape, no number)?"""
    for value in (3.1415, np.ones((7, 3)), [1.0, 2.0], None, [W1]):
        verdict = judge(answers(("loss", value, {}), ("dloss/dw", [W1, W2], {})), REF)
        assert not verdict.passed
        assert verdict.messages == ["loss: wrong on a hidden case (a batch of one example)"]
        assert verdict.hint == "divide by N"
    wrong_list = judge(answers(("loss", 2.5, {}), ("dloss/dw", [W1, W2 * 3], {})), REF)
    assert wrong_list.messages == ["dloss/dw: wrong on a hidden case"]


def test_no_answer_is_explained_in_detail_even_one_marked_visible():
    """Does an answer whose record says `visible` (an old solution's, or a kernel's claim) get
    the fixed words like any other? A hidden part's answer is chosen by a kernel that has run
    earlier hidden tests, computed on the notebook's own inputs or not: its relative error or
    shape could carry their inputs (the details come from reasons.py's run instead)."""
    ref = answers(("out", W1, {"visible": True, "case": "the notebook's x"}), ("h", W2, {}))
    off = judge(answers(("out", W1 + 1.0, {}), ("h", W2, {})), ref)
    assert off.messages == ["out: wrong on a hidden case (the notebook's x)"]
    shape = judge(answers(("out", np.ones(5), {}), ("h", W2, {})), ref)
    assert shape.messages == off.messages
    claimed = judge(answers(("out", W1, {}), ("h", W2 + 1.0, {"visible": True})), ref)
    assert claimed.messages == ["h: wrong on a hidden case"]


def test_the_kernels_rule_tolerance_and_wording_are_ignored():
    """A kernel that claims a lax rule, a huge tolerance, other names in the message or
    `given` data of its own gains nothing: the solution's record decides."""
    forged = answers(
        ("loss", 99.0, {"rule": "recorded", "tol": 1e9, "case": "<script>x</script>"}),
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


def test_an_exception_on_a_hidden_case_is_never_named():
    """The kernel chooses the exception name it reports: is the message the same fixed text
    whatever the name, before the first answer and after it?"""
    first = REF["answers"][0]
    for done in ([], [first]):
        messages = {
            tuple(judge({"answers": done, "end": "error", "error": error}, REF).messages)
            for error in ("TypeError", "<img src=x onerror=alert(1)>", ["list"], None, "x" * 99)
        }
        assert len(messages) == 1, messages
    assert judge({"answers": [first], "end": "error", "error": "KeyError"}, REF).messages == [
        "dloss/dw: your code raised an exception on a hidden case"
    ]


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


def test_documents_over_the_bounds_are_never_decoded():
    """Is a document nested too deep, holding too many values, or over the byte cap refused
    as "too large" before json.loads runs, and a document that is no JSON no document?"""
    too_large = {"answers": [], "end": "too_large"}
    assert parse("[" * 200_000) == too_large
    assert parse('{"answers": ' * 100_000) == too_large
    assert parse("[" + "[]," * 2_100_000 + "[]]") == too_large  # 4.2 million counted, 6 MiB
    assert len(parse('{"a": [' + "[]," * 1_000_000 + "[]]}")["a"]) == 1_000_001
    assert parse(" " * (MAX_DOCUMENT_BYTES + 1) + "{}") == too_large
    assert parse("{}", max_bytes=1) == too_large
    assert parse('{"answers": [], "x": "' + "[" * 100 + '"}')["answers"] == []  # in a string
    assert parse(r'{"a": "\\", "b": "\"[[", "c": [1]}') == {"a": "\\", "b": '"[[', "c": [1]}
    assert parse("[1, 2]") is None and parse("{") is None and parse(None) is None
    assert judge(too_large, REF).messages == ["the answers were too large to grade"]


@pytest.mark.parametrize(
    "value",
    [{"t": "array", "shape": [1], "data": [10**400]},  # json reads it as an int no float holds
     {"t": "array", "shape": [0, 10**30], "data": []},  # no data, yet no numpy shape
     {"t": "array", "shape": [0, 2**62, 2**62], "data": []},
     {"t": "values", "v": [10**400]}, {"t": "values", "v": ["x" * 201]},
     {"t": "list", "items": [{"t": "array", "shape": [1], "data": ["1"]}]},
     {"t": "array", "shape": [True], "data": [1.0]}, {"t": "array", "shape": [-1], "data": []},
     {"t": "array", "shape": [1] * 9, "data": [1.0]}, {"t": "strange"}, [], "x", 1, None],
)  # fmt: skip
def test_a_value_the_judge_cannot_handle_costs_its_question_only(value):
    """Does a value that is not what graded.encode writes (one that made the judge raise
    before: an int of 400 digits, a shape numpy cannot make) fail its question with "answer
    could not be judged", without an exception?"""
    document = answers(("loss", 2.5, {}), ("dloss/dw", [W1, W2], {}))
    document["answers"][1]["value"] = value
    verdict = judge(document, REF)
    assert not verdict.passed and verdict.messages == [
        "dloss/dw: answer could not be judged on a hidden case"
    ]


@pytest.mark.parametrize(
    "value",
    [np.float64(np.nan), np.full((2, 3), np.inf), np.zeros(0), np.zeros((0, 3)),
     np.array(1e308), [np.ones((4, 3)), np.ones(4)], [np.ones(0)] * 64, ["text", None, 1.5],
     [True, False], np.full((2, 3), -1e308)],
)  # fmt: skip
def test_every_rule_takes_any_valid_value_without_raising(value):
    """Does every rule judge any value decode returns (NaN, inf, empty, 0-d, ragged lists,
    plain values) by a verdict, never an exception?"""
    x, y = np.ones((5, 3)), np.ones((5, 4))
    given = {"x": x, "y": y, "start": [np.ones((3, 4))], "x_val": x, "y_val": np.zeros(5)}
    params = {"close": {}, "equal": {}, "floats": {}, "permutations": {},
              "same_as": {"of": "a"}, "recorded": {}, "differs_from": {"of": "a"},
              "trained_mlp": {"given": given, "factor": 2, "min_accuracy": 0.5},
              "trained_convnet": {"min_accuracy": 0.5, "mean": 0.1, "std": 0.3},
              "uniform_permutations": {}, "repeats": {"of": "a"},
              "heldout_digits": {"given": {"heldout": np.arange(5)},
                                 "min_accuracy": 0.5}}  # fmt: skip
    assert set(params) == set(rules.RULES)
    solution = {"close": W1, "equal": np.arange(3), "floats": [1.0, 2.0],
                "permutations": np.array([[1, 0, 2], [2, 0, 1]]), "trained_mlp": [np.eye(3, 4)],
                "heldout_digits": [np.ones((4, 64)), np.ones(4)]}  # fmt: skip
    with np.errstate(all="raise"):  # the judge must silence its own overflows
        for rule, kw in params.items():
            ref = answers(("a", W1, {}), ("b", solution.get(rule, W1), {"rule": rule, **kw}))
            judge(answers(("a", value, {}), ("b", value, {})), ref)
            judge(answers(("a", W1, {}), ("b", value, {})), ref)


def test_a_rule_that_raises_is_the_graders_fault(monkeypatch):
    """Does an exception escaping a rule on a validated answer propagate (the grader's bug:
    the caller makes it a grader_error), instead of becoming the student's zero?"""

    def broken(mine, ref, theirs, answers):
        raise ValueError("a bug in the grader")

    monkeypatch.setitem(rules.RULES, "close", broken)
    with pytest.raises(ValueError, match="a bug in the grader"):
        judge(REF, REF)


def test_unstable_answers_compared_by_value_are_an_authoring_error():
    """A 'close' answer that differs between two runs of the solution is reported, so that
    the instructor seeds it or judges it by a property."""
    one = answers(("t", 0.123, {}))
    two = answers(("t", 0.456, {}))
    assert check_reference(one, two, "q")
    one_order, other_order = np.array([[1, 0, 2], [2, 0, 1]]), np.array([[2, 1, 0], [0, 2, 1]])
    prop_one = answers(("t", one_order, {"rule": "permutations"}))  # a property rule
    prop_two = answers(("t", other_order, {"rule": "permutations"}))
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


@pytest.mark.parametrize(
    "data",
    [[], [1.0, 2], [float("inf"), float("nan"), -0.0], [2**1023 - 1, 0.5], [-(2**1023) + 1],
     [True], [1.0, False], [2**1023], [0.5, -(2**1023)], [10**400, 1.0], [None], ["1.5"],
     [[1.0]], [{"t": "none"}]],
)  # fmt: skip
def test_an_arrays_items_are_checked_as_one_number_each_would_be(data):
    """Does an array decode exactly when each item is a number a float64 holds (no bool, no
    string, no int of 400 digits), as the rule for one value says?"""
    from autograder.grading.judging.answers import _number

    slot = {"t": "array", "shape": [len(data)], "data": data}
    if all(_number(x) for x in data):
        assert decode(slot).shape == (len(data),)
    else:
        with pytest.raises(Malformed):
            decode(slot)
