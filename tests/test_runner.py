"""The grading engine's pure parts, without a sandbox or privileges: planning a notebook's run,
running it against a scripted kernel (restart and replay after a failure), and the status a
question gets from what happened."""

from __future__ import annotations

import copy
import json

from autograder.course import RELEASE, SAMPLES, SOLUTIONS, notebook_names
from autograder.grading.executors import reasons
from autograder.grading.executors.failures import question_status
from autograder.grading.isolation.messages import CellOutcome, Limits
from autograder.grading.isolation.runner import Course, Execution, Item, execute, plan
from autograder.notebooks import grade_id, hidden_lines, read
from autograder.results import Status

NOTEBOOK = "01_numpy_gradients"
COURSE = Course.from_notebooks(
    NOTEBOOK, read(RELEASE / f"{NOTEBOOK}.ipynb"), read(SOLUTIONS / f"{NOTEBOOK}.ipynb")
)
ANSWERS = json.dumps({"answers": [], "end": "ok"})


class ScriptedKernel:
    """Stands in for SandboxedKernel: a cell whose code holds HANG times out once, CRASH kills
    the kernel, FLAKY kills it when run again (either way the kernel restarts, as the real one
    does), anything else runs; a probe
    returns an answers document. Every code it was given is in `ran`, in order."""

    def __init__(self):
        self.limits = Limits(cell_timeout_s=5)
        self.ran: list[str] = []
        self.hang_once = True

    def run(self, code, timeout=None, keep=None) -> CellOutcome:
        self.ran.append(code)
        if "HANG" in code and self.hang_once:
            self.hang_once = False
            return CellOutcome("timeout")
        if "CRASH" in code or ("FLAKY" in code and self.ran.count(code) > 1):
            return CellOutcome("died")
        if "run_probe" in code:
            return CellOutcome("ok", result=ANSWERS)
        return CellOutcome("ok")


def student(edit) -> object:
    nb = copy.deepcopy(read(SAMPLES / "complete" / f"{NOTEBOOK}.ipynb"))
    edit(nb)
    return nb


def probes(items: list[Item]) -> list[str]:
    return [item.question for item in items if item.kind == "probe"]


def test_plan_runs_every_graded_test_once_with_its_hidden_part():
    """Are deleted, duplicated, edited and retyped tests each run once, in the release's
    order, with the course's check (as released) and hidden part, not the student's copy?"""

    def tamper(nb):
        tests = [c for c in nb.cells if grade_id(c) in COURSE.questions]
        tests[0].source = "pass  # edited"
        tests[1].cell_type = "markdown"
        nb.cells.remove(tests[2])
        nb.cells.insert(0, copy.deepcopy(tests[3]))

    items = plan(COURSE, student(tamper))
    assert probes(items) == list(COURSE.questions)
    for item in items:
        if item.kind == "probe":
            question = COURSE.questions[item.question]
            assert question.test_source == f"{item.check}\n{item.source}"
            assert "graded.answer(" in item.source and "### BEGIN HIDDEN" not in item.source
            assert "check" in item.check and "graded.answer(" not in item.check
    assert not [item for item in items if "pass  # edited" in item.source]


def test_plan_labels_student_cells_from_one():
    """Are the student's cells labelled as Jupyter numbers them (from 1)?"""
    nb = student(lambda nb: None)
    items = plan(COURSE, nb)
    first_code = next(i for i, c in enumerate(nb.cells, start=1) if c.cell_type == "code")
    labels = [item.label for item in items]
    assert "cell 0" not in labels
    assert labels[0] in (f"cell {first_code}", grade_id(nb.cells[first_code - 1]))


def test_a_failing_cell_restarts_replays_and_costs_only_the_next_question():
    """After a cell times out, is everything that had run before replayed in a fresh kernel,
    does grading go on, and does only the question after it carry the failure?"""
    items = [
        Item("code", "setup()", "setup"),
        Item("probe", "a", "q1", "q1"),
        Item("code", "HANG", "cell 5"),
        Item("probe", "b", "q2", "q2"),
        Item("probe", "c", "q3", "q3"),
    ]
    kernel = ScriptedKernel()
    run = execute(items, kernel, notebook_timeout_s=60, max_bytes=2**20)
    assert run.restarts == 1
    assert kernel.ran.count("setup()") == 2  # replayed after the restart
    assert run.section_failures == {"q2": "timeout"}
    assert set(run.documents) == {"q1", "q2", "q3"} and all(run.documents.values())
    assert question_status(run, "q2") == Status.TIMEOUT
    assert question_status(run, "q3") == Status.OK


def test_a_kernel_that_keeps_crashing_gives_up_on_the_rest():
    """When the replay itself kills the kernel, do the remaining questions get the failure,
    without another attempt?"""
    items = [
        Item("code", "FLAKY", "cell 1"),
        Item("code", "CRASH", "cell 2"),
        Item("probe", "a", "q1", "q1"),
    ]
    run = execute(items, ScriptedKernel(), notebook_timeout_s=60, max_bytes=2**20)
    assert run.probe_status == {"q1": "died"} and run.documents == {"q1": None}
    assert question_status(run, "q1") == Status.CRASHED


def test_statuses_come_from_the_cells_own_failure_first():
    run = Execution(probe_status={"q": "memory"}, section_failures={"q": "timeout"})
    assert question_status(run, "q") == Status.MEMORY
    run = Execution(probe_status={"q": "error"}, section_failures={"q": "died"})
    assert question_status(run, "q") == Status.CRASHED
    assert question_status(Execution(probe_status={"q": "ok"}), "q") == Status.OK


class LossyKernel(ScriptedKernel):
    """Drops the message that carries a probe's answers, as a flooded receive queue does."""

    def run(self, code, timeout=None, keep=None) -> CellOutcome:
        self.ran.append(code)
        if "run_probe" in code:
            return CellOutcome("ok")  # the answers' message was lost
        if "last_answers" in code:
            return CellOutcome("ok", result=ANSWERS)
        return CellOutcome("ok")


def test_a_check_that_raises_ends_its_question_and_gives_a_reason_until_a_hidden_part_ran():
    """Does a visible check that raises end its question without its hidden part (the judge's
    "raised before the hidden tests"), with what it raised as the reason only while no hidden
    part has reached the kernel; and does a check that passes let its hidden part run?"""

    class Checking(ScriptedKernel):
        def run(self, code, timeout=None, keep=None):
            outcome = super().run(code, timeout, keep)
            if code.startswith("RAISE") and outcome.status == "ok":
                return CellOutcome("error", error=f"CheckFailed: {code}")
            return outcome

    items = [Item("probe", "hidden 1", "q1", "q1", "RAISE 1"),
             Item("probe", "hidden 2", "q2", "q2", "check 2"),
             Item("probe", "hidden 3", "q3", "q3", "RAISE 3")]  # fmt: skip
    kernel = Checking()
    run = execute(items, kernel, notebook_timeout_s=60, max_bytes=2**20)
    assert run.reasons == {"q1": "CheckFailed: RAISE 1"}  # q3's check raised after hidden 2
    assert run.documents["q1"] == run.documents["q3"] == {"answers": [], "end": "error"}
    assert run.documents["q2"] == json.loads(ANSWERS)
    sent = [code for code in kernel.ran if "run_probe" in code]
    assert len(sent) == 1 and "hidden 2" in sent[0]
    assert run.probe_status == {"q1": "ok", "q2": "ok", "q3": "ok"}
    assert [cell.status for cell in run.cells] == ["ok", "ok", "ok"]


def test_answers_lost_in_a_flood_are_asked_for_again():
    """When a probe ran but its answers never arrived, does the runner ask the idle kernel
    for them again instead of scoring the question zero?"""
    run = execute([Item("probe", "a", "q1", "q1")], LossyKernel(), 60, 2**20)
    assert run.documents["q1"] == json.loads(ANSWERS)


# --------------------------------------------------------------- reasons (a run without tests)


def test_the_reasons_run_holds_no_hidden_test_of_any_notebook():
    """Does the second run (reasons.py) send each graded test cell as released, in the plan's
    place, and no line of any notebook's hidden tests, even for a student who pasted a hidden
    part into their copy of a test cell?"""
    for name in notebook_names():
        course = Course.from_notebooks(name, read(RELEASE / name), read(SOLUTIONS / name))
        secrets = hidden_lines(read(SOLUTIONS / name))
        nb = read(RELEASE / name)
        for cell in nb.cells:
            if grade_id(cell) in course.questions:
                cell.source = course.questions[grade_id(cell)].test_source
        items = reasons.visible_plan(course, nb)
        assert [i.label for i in items] == [i.label for i in plan(course, nb)], name
        assert [i.question for i in items if i.kind == "check"] == list(course.questions), name
        sent = "\n".join(item.source for item in items)
        assert secrets and not [line for line in secrets if line in sent], name


def test_reasons_are_what_the_asked_checks_raised_until_the_kernel_fails():
    """Are reasons collected only for the questions asked, the run stopped after the last of
    them, and ended by a cell that kills the kernel (what was found is kept)?"""

    class Raising(ScriptedKernel):
        def run(self, code, timeout=None, keep=None):
            outcome = super().run(code, timeout, keep)
            if "RAISE" in code and outcome.status == "ok":
                return CellOutcome("error", error=f"CheckFailed: {code}")
            return outcome

    items = [Item("code", "a = 1", "cell 1"), Item("check", "RAISE 1", "q1", "q1"),
             Item("check", "RAISE 2", "q2", "q2"), Item("code", "CRASH", "cell 4"),
             Item("check", "RAISE 3", "q3", "q3"), Item("code", "after", "cell 6")]  # fmt: skip
    kernel = Raising()
    assert reasons.explain(items, kernel, {"q2"}, 60) == {"q2": "CheckFailed: RAISE 2"}
    assert kernel.ran == ["a = 1", "RAISE 1", "RAISE 2"]  # nothing after the last one asked
    kernel = Raising()
    assert reasons.explain(items, kernel, {"q1", "q3"}, 60) == {"q1": "CheckFailed: RAISE 1"}
    assert kernel.ran[-1] == "CRASH"
    assert reasons.explain(items, Raising(), set(), 60) == {}


def test_a_reason_is_printable_and_bounded():
    assert reasons.bounded("NotImplementedError: ") == "NotImplementedError"
    assert reasons.bounded("ValueError: a\x1b[31mb\x00") == "ValueError: a [31mb"
    long = reasons.bounded("CheckFailed: " + "x" * 5000)
    assert len(long) == reasons.MAX_CHARS and long.endswith("…")
