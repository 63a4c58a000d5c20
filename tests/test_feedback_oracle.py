"""Feedback is no oracle: answers documents that differ only in their hidden-case answers (any
shape, value, type, number of answers, exception name) give the same feedback apart from which
answer failed and how, in a few fixed words.

Each generated document is judged against a reference and rendered the way a student reads
it: the feedback page (feedback.py) and Gradescope's results.json. Every rendering must be one
of the renderings of a few canonical documents per answer position (that answer replaced by
None, by something malformed, by an array of another type; renamed; the test stopped there,
with or without an exception), so that the kernel can choose among those few texts but never
write a number, a shape or a word of its own into them. The references are hand-made for
every rule (fast), and the solutions' own answers for every question of every notebook (slow:
the grader's references, from the session's grading of the samples, `graded_samples`).
"""

from __future__ import annotations

import json
import string

import numpy as np
import pytest
from documents import document

from autograder.course import notebook_names
from autograder.gradescope.results import results_json
from autograder.grading.executors import jobs
from autograder.grading.judging import rules
from autograder.grading.judging.judge import judge, question_result
from autograder.grading.reporting.feedback import page
from autograder.redaction import EXCEPTION_KINDS
from autograder.results import NotebookResult
from cs231n_utils import graded

VARIANTS = 1000  # generated documents per question
NOTEBOOK = "01_numpy_gradients"
# A wrong type for an answer judged with `same_type`; an ordinary wrong array for the others.
OTHER_TYPE = {"t": "array", "kind": "other", "dtype": "<i2", "shape": [1], "data": [0.0]}


recorded = document


def hand_made() -> list[dict]:
    """References that use every rule, with cases, hints and typed answers."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((20, 3)), rng.standard_normal((3, 2))
    epochs = np.array([[2, 0, 1, 3], [1, 3, 0, 2]])
    given = {"x": x, "y": x @ w, "start": [0.01 * w], "x_val": x, "y_val": np.zeros(20)}
    return [
        recorded(
            ("loss", 2.5, {"case": "a batch of one example", "hint": "divide by N"}),
            ("grads", [w, np.arange(4.0)], {"case": "two layers"}),
            ("counts", np.arange(5), {"rule": "equal"}),
            ("image", np.ones(3, np.float32), {"same_type": True, "hint": "keep float32"}),
            ("labels", ["cat", "dog", None], {"rule": "equal"}),
        ),
        recorded(
            ("epochs", epochs, {"rule": "permutations", "case": "seed 0"}),
            ("again", epochs, {"rule": "same_as", "of": "epochs"}),
            ("other", epochs[::-1], {"rule": "differs_from", "of": "epochs"}),
            ("kept", np.ones(2), {"rule": "recorded"}),
            ("losses", [1.0, 0.5], {"rule": "floats"}),
        ),
        recorded(
            (
                "trained",
                [w],
                {
                    "rule": "trained_mlp",
                    "given": given,
                    "factor": 2.0,
                    "layout": "plain",
                    "loss": "mse",
                    "case": "20 examples",
                },
            ),
        ),  # fmt: skip
    ]


# ---------------------------------------------------------------------- generated documents


def _pick(rng: np.random.Generator, options: list):
    return options[int(rng.integers(0, len(options)))]


def _text(rng: np.random.Generator, most: int = 40) -> str:
    alphabet = string.printable + "éλ😀<>&\"'\\[]{}\u202e\x00"
    picks = rng.integers(0, len(alphabet), size=int(rng.integers(0, most)))
    return "".join(alphabet[i] for i in picks)  # one draw per letter was half the test's time


def _array(rng: np.random.Generator):
    shape = tuple(int(n) for n in rng.integers(0, 5, size=int(rng.integers(0, 4))))
    data = rng.standard_normal(shape) * 10.0 ** float(rng.integers(-5, 300))
    if data.size and rng.random() < 0.3:
        data.flat[int(rng.integers(0, data.size))] = _pick(rng, [np.nan, np.inf, -np.inf])
    dtype = _pick(rng, ["float64", "float32", "int64", "bool"])
    with np.errstate(all="ignore"):
        return data.astype(dtype)


def _value(rng: np.random.Generator) -> dict:
    """An answer's value: what graded.encode writes for a random object, or raw JSON that it
    never writes."""
    kind = int(rng.integers(0, 9))
    if kind == 0:
        return graded.encode(None)
    if kind == 1:
        return graded.encode(float(rng.standard_normal()) * 10.0 ** float(rng.integers(-9, 9)))
    if kind == 2:
        return graded.encode([_array(rng) for _ in range(int(rng.integers(0, 4)))])
    if kind == 3:
        return graded.encode([_text(rng, 200) if rng.random() < 0.7 else None for _ in range(3)])
    if kind == 4:
        return {"t": "array", "shape": [0, 10**30], "data": []}
    if kind == 5:
        return {"t": "values", "v": [10**400, _text(rng, 300)]}
    if kind == 6:
        return _pick(rng, [[], "x", 1, None, {"t": _text(rng)}, {"t": "list", "items": 7}])
    return graded.encode(_array(rng))


def _record(rng: np.random.Generator, names: list[str]) -> dict:
    """An answer record with a name of the course or its own, a random value, and a rule,
    tolerance, case, hint and `visible` the kernel claims for itself."""
    record = {"name": _pick(rng, names) if rng.random() < 0.8 else _text(rng),
              "value": _value(rng)}  # fmt: skip
    if rng.random() < 0.5:
        record |= {"rule": "true", "tol": 1e300, "case": _text(rng), "hint": _text(rng),
                   "visible": True, "params": {"bound": 1e300}}  # fmt: skip
    return record


def variant(rng: np.random.Generator, reference: dict) -> object:
    """A document that agrees with the reference up to a random position and is anything
    after it: random answers, any number of them, any end, any exception name."""
    if rng.random() < 0.05:
        return _pick(rng, [None, [], "text", {"answers": "x"}, {"answers": [1]},
                           {"answers": [], "end": "too_large"}])  # fmt: skip
    own = reference["answers"]
    names = [a["name"] for a in own]
    head = own[: int(rng.integers(0, len(own) + 1))]
    tail = [_record(rng, names) for _ in range(int(rng.integers(0, 4)))]
    if tail and len(head) < len(own) and rng.random() < 0.7:
        tail[0]["name"] = own[len(head)]["name"]  # judged by its value, not its name
    end = _pick(rng, ["ok", "ok", "error", "stopped", _text(rng), None])
    error = _pick(rng, [*EXCEPTION_KINDS, _text(rng, 100), 7])
    return {"answers": head + tail, "end": end, "error": error}


def _spoilt(value: dict) -> dict:
    """The solution's value with every number NaN: wrong, of the right type and shape."""
    if value.get("t") == "array":
        return {**value, "data": [float("nan")] * len(value["data"])}
    return {"t": "none"}


def canonical(reference: dict) -> list[object]:
    """The few documents whose renderings are the only ones allowed: per answer position,
    that answer as None, malformed, of another type, NaN, or renamed, or the test stopping there
    (with or without an exception); and for the whole document, none, unreadable, too large,
    correct, with an answer too many, or ending after its last answer without "ok"."""
    own = reference["answers"]
    documents = [None, {"answers": 1}, {"answers": [], "end": "too_large"}, reference,
                 {"answers": [*own, own[-1]], "end": "ok"}, {"answers": own, "end": "error"},
                 {"answers": own, "end": "stopped"}]  # fmt: skip
    for i, answer in enumerate(own):
        head = own[:i]
        for value in ({"t": "none"}, {"t": "malformed"}, OTHER_TYPE, _spoilt(answer["value"])):
            documents.append({"answers": [*head, {**answer, "value": value}], "end": "ok"})
        documents.append({"answers": [*head, {**answer, "name": "?"}], "end": "ok"})
        documents += [{"answers": head, "end": "error"}, {"answers": head, "end": "stopped"}]
    return documents


def rendered(document, reference: dict, notebook: str, question: str, points: float) -> str:
    """What the student reads: the feedback page and Gradescope's results.json."""
    result = question_result(question, points, judge(document, reference))
    notebook_result = NotebookResult("ada", notebook, "ok", "key", [result])
    return page("ada", [notebook_result]) + json.dumps(results_json([notebook_result], 0.0))


def check_no_chosen_bits(reference: dict, notebook: str, question: str, points: float, seed):
    allowed = {rendered(d, reference, notebook, question, points) for d in canonical(reference)}
    assert len(allowed) <= 7 * len(reference["answers"]) + 7
    rng = np.random.default_rng(seed)
    for _ in range(VARIANTS):
        document = variant(rng, reference)
        text = rendered(document, reference, notebook, question, points)
        assert text in allowed, (
            f"{question}: feedback that carries something of the document's own:\n"
            f"{json.dumps(judge(document, reference).messages)}"
        )


@pytest.mark.parametrize("index", range(3))
def test_hand_made_references_give_only_fixed_feedback(index):
    """For every rule, do thousands of documents that differ only in their hidden answers
    render one of the canonical few feedback texts?"""
    check_no_chosen_bits(hand_made()[index], NOTEBOOK, "test_graph_gradients", 2.0, index)


def test_a_different_shape_or_exception_changes_nothing_in_the_page():
    """Two wrong answers of different shapes, or two different exception names, read the
    same, word for word?"""
    reference = hand_made()[0]
    one, two = (json.loads(json.dumps(reference)) for _ in range(2))
    one["answers"][1]["value"] = graded.encode([np.ones((7, 1)), np.ones(4)])
    two["answers"][1]["value"] = graded.encode([np.ones((2, 9)), np.ones(3)])
    pages = {rendered(d, reference, NOTEBOOK, "q", 1.0) for d in (one, two)}
    assert len(pages) == 1
    stopped = [{"answers": reference["answers"][:2], "end": "error", "error": e}
               for e in ("KeyError", "ValueError", "NameError")]  # fmt: skip
    assert len({rendered(d, reference, NOTEBOOK, "q", 1.0) for d in stopped}) == 1


@pytest.fixture
def accuracy_once(monkeypatch):
    """The grader's held-out accuracy of the same parameters, computed once. Most documents
    here carry the solution's own trained parameters up to some position, and the NumPy
    network ran on them again for each (three quarters of 08's time); the accuracy of given
    parameters is deterministic, so what is judged, and how, is unchanged."""
    known: dict[bytes, float] = {}

    def held_out_accuracy(params, mean, std, first):
        key = repr((mean, std, first, [(p.shape, p.dtype.str) for p in params])).encode()
        key += b"".join(np.ascontiguousarray(p).tobytes() for p in params)
        if key not in known:
            known[key] = real(params, mean, std, first)
        return known[key]

    real = rules.held_out_accuracy
    monkeypatch.setattr(rules, "held_out_accuracy", held_out_accuracy)
    return known


@pytest.fixture(scope="module")
def solution_answers(graded_samples):
    """Each solution notebook's answers documents, by question: the grader's references (the
    first sandboxed run of each solution, from the session's grading of the samples)."""

    def get(name: str) -> dict[str, dict]:
        path = jobs.reference_path(graded_samples[1], name.removesuffix(".ipynb"), 0)
        return json.loads(path.read_text())["documents"]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("name", notebook_names())
def test_real_references_give_only_fixed_feedback(solution_answers, accuracy_once, name):
    """For every question of every notebook, judged against the solution's own answers, do
    documents that differ only in their hidden answers render one of the canonical few
    feedback texts?"""
    notebook = name.removesuffix(".ipynb")
    questions = jobs.course(notebook).questions
    documents = solution_answers(name)
    assert set(documents) == set(questions)
    for seed, (question, reference) in enumerate(documents.items()):
        check_no_chosen_bits(reference, notebook, question, questions[question].points, seed)
