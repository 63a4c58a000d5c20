"""Every autograded test can fail: a plausible wrong answer makes it fail, and the correct
answer makes it pass again. Each solution notebook runs once in a kernel, its graded tests as
the batch grader runs them; each mutation re-runs only the changed cell and the tests it must
fail, and the grader's own judge compares their hidden answers with the solution's."""

from __future__ import annotations

import contextlib
import re

import pytest

from autograder.authoring import mutations
from autograder.course import RELEASE, SOLUTIONS, notebook_names
from autograder.grading.judging import judge
from autograder.notebooks import HIDDEN_MARKERS, grade_id, hidden_part, is_test, read, strip_markers

pytestmark = pytest.mark.slow

# Each notebook's tests share one kernel (conftest.solution_kernels): under `pytest -n`, keep
# them on one worker.
CASES = [
    pytest.param(name, m, id=f"{name}:{m.name}", marks=pytest.mark.xdist_group(name))
    for name in notebook_names()
    for m in mutations.load(name)
]
NOTEBOOKS = [pytest.param(n, marks=pytest.mark.xdist_group(n)) for n in notebook_names()]
ALTERNATIVES = [
    pytest.param(name, a, id=f"{name}:{a.name}", marks=pytest.mark.xdist_group(name))
    for name in notebook_names()
    for a in mutations.load(name, "alternative")
]
UNPOINTED = [
    pytest.param(name, m, id=f"{name}:{m.name}", marks=pytest.mark.xdist_group(name))
    for name in notebook_names()
    for m in mutations.load(name, "unpointed")
]


def graded_tests(nb) -> list[str]:
    return [
        grade_id(c)
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
    ]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solution_passes_every_test(solution_kernels, name):
    """Does every autograded test pass on the solution, without writing to stderr?"""
    _, results = solution_kernels(name)
    for test in graded_tests(read(SOLUTIONS / name)):
        result = results[test]
        assert result.passed, f"{name} {test}: {result.error or result.stderr or result.answers}"
        assert judge.check_reference(result.answers, result.answers, test) == []


@pytest.mark.parametrize("name", notebook_names())
def test_hidden_tests_only_hand_back_answers(name):
    """Does every graded test's hidden part hand answers to the grader and compute no
    reference of its own (no check, no expected value, no numerical gradient) in the
    student's kernel?"""
    for cell in read(SOLUTIONS / name).cells:
        if not is_test(cell):
            continue
        hidden = hidden_part(cell.source)
        assert "graded.answer(" in hidden, f"{grade_id(cell)}: no hidden answers"
        for word in (r"\bchecks\.", r"\bnumerical_gradient\(", r"\bexpected\b", r"\breference"):
            assert not re.search(word, hidden), f"{grade_id(cell)}: the hidden tests use {word!r}"


@pytest.mark.parametrize("name", notebook_names())
def test_every_autograded_test_has_a_mutation(name):
    """Is each autograded test cell the target of at least one mutation?"""
    covered = {t for m in mutations.load(name) for t in m.fails}
    missing = set(graded_tests(read(SOLUTIONS / name))) - covered
    assert not missing, f"{name}: no mutation proves these tests can fail: {sorted(missing)}"


@contextlib.contextmanager
def changed_cell(kernel, change):
    """The kernel with `change` (a mutation or an alternative) applied to its cell and the
    cells it names re-run; the solution's cells are run again afterwards."""
    original = kernel.source(change.cell)
    reruns = [kernel.source(cell) for cell in change.rerun]
    try:
        result = kernel.run(change.apply(original))
        assert result.error is None, f"the changed cell itself fails: {result.error}"
        for source in reruns:
            kernel.run(source)
        yield
    finally:
        kernel.run(original)
        for source in reruns:
            kernel.run(source)


def graded(kernel, references, test):
    """The judge's verdict on `test` run now in the kernel, against the solution's answers."""
    result = kernel.probe(strip_markers(kernel.source(test), HIDDEN_MARKERS))
    return judge.judge(result.answers, references[test].answers)


@pytest.mark.parametrize(("name", "mutation"), CASES)
def test_mutation_is_caught(solution_kernels, name, mutation):
    """Does this plausible wrong answer fail the tests it targets, and only through them?"""
    kernel, references = solution_kernels(name)
    release = read(RELEASE / name)
    with changed_cell(kernel, mutation):
        for test in mutation.fails:
            verdict = graded(kernel, references, test)
            assert not verdict.passed, f"{test} passed with mutation {mutation.name!r}"
            visible = next(c.source for c in release.cells if grade_id(c) == test)
            shown = kernel.run(visible)
            if mutation.visible_passes:
                assert shown.passed, (
                    f"expected the release's visible check of {test} to pass (only hidden "
                    f"tests catch this mutation), got: {shown.error}"
                )
            else:
                assert not shown.passed, (
                    f"expected the release's visible check of {test} to catch this mutation "
                    "(or mark it visible_passes = true)"
                )
    for test in mutation.fails:
        restored = graded(kernel, references, test)
        assert restored.passed, f"{test} still fails after restoring the solution: {restored}"


@pytest.mark.parametrize(("name", "alternative"), ALTERNATIVES)
def test_a_correct_answer_written_differently_earns_full_marks(solution_kernels, name, alternative):
    """Does a correct answer that is not the solution's code (another loop order, another
    API, another random draw) pass the tests it answers, as the grader judges them?"""
    kernel, references = solution_kernels(name)
    with changed_cell(kernel, alternative):
        for test in alternative.fails:  # the tests it must pass
            verdict = graded(kernel, references, test)
            assert verdict.passed, f"{test} failed with {alternative.name!r}: {verdict}"


@pytest.mark.parametrize(("name", "mistake"), UNPOINTED)
def test_a_mistake_no_value_shows_is_told_and_costs_nothing(solution_kernels, name, mistake):
    """Does a mistake that gives the same numbers (weights fed every step, a graph that grows,
    a checkpoint loaded with weights_only=False) keep the graded tests' full marks, while the
    check without points still reports it?"""
    kernel, references = solution_kernels(name)
    assert mistake.check, f"{mistake.name!r}: no check without points named"
    with changed_cell(kernel, mistake):
        for test in mistake.fails:  # the graded tests it must pass
            assert graded(kernel, references, test).passed, test
        shown = kernel.run(kernel.source(mistake.check))
        assert not shown.passed, f"{mistake.check} did not report {mistake.name!r}"
        assert "CheckFailed" in (shown.error or "")
