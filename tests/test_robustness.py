"""One student can only hurt their own grade: whatever a notebook or its kernel does, that
notebook gets a status and a reason in the grader's words, and the batch writes everything.
Fast tests, without a sandbox, except the last (slow) one."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from queue import Empty

import nbformat
import pytest
from conftest import NEEDS_SANDBOX

from autograder.course import SAMPLES
from autograder.grading.executors import collect, jobs, student
from autograder.grading.executors.jobs import Settings
from autograder.grading.executors.scheduler import LocalExecutor, run_all
from autograder.grading.executors.student import StudentJob
from autograder.grading.inputs.names import file_stem
from autograder.grading.isolation.kernel import MALFORMED, CellOutcome, Limits, SandboxedKernel
from autograder.grading.isolation.runner import Execution, GraderError, plan
from autograder.grading.judging import rules
from autograder.grading.reporting import outputs
from autograder.nbgrader_course import gradebook
from autograder.results import NotebookResult, read_json
from cs231n_utils import graded

NOTEBOOK = "01_numpy_gradients"
COMPLETE = SAMPLES / "complete" / f"{NOTEBOOK}.ipynb"


def job_for(tmp_path: Path, nb=None, student: str = "ada") -> StudentJob:
    path = tmp_path / "subs" / f"{NOTEBOOK}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb if nb is not None else nbformat.read(COMPLETE, as_version=4), path)
    return StudentJob(student, NOTEBOOK, "ok", str(path))


def test_nbgrader_metadata_1_is_graded_by_the_course_cells(tmp_path, monkeypatch):
    """Does a notebook whose cell has `"nbgrader": 1` (valid nbformat, not nbgrader's
    mapping) get planned and graded with the course's protected cells, and a result file?"""
    nb = nbformat.read(COMPLETE, as_version=4)
    nb.cells[3].metadata["nbgrader"] = 1
    job = job_for(tmp_path, nb)
    questions = list(jobs.course(NOTEBOOK).questions)
    refs = references(questions)
    monkeypatch.setattr(jobs, "load_references", lambda out, notebook: refs)
    monkeypatch.setattr(student, "run_notebook", kernel_sending(refs))
    result = job(tmp_path / "out", Settings(), 0)
    assert result.status == "ok" and result.questions
    assert read_json(job.result_path(tmp_path / "out"))["status"] == "ok"


def references(questions: list[str]) -> dict[str, dict]:
    """A reference per question: one answer "x", 1.0, judged by "close"."""
    graded._recording = recorded = []
    try:
        graded.answer("x", 1.0)
    finally:
        graded._recording = None
    return dict.fromkeys(questions, json.loads(json.dumps({"answers": recorded, "end": "ok"})))


def kernel_sending(documents: dict[str, dict]):
    """A stand-in for jobs.run_notebook (as student.py calls it) whose kernel hands these
    documents to the receiver, as runner.execute does when each arrives."""

    def run(name, nb, notebook, worker, settings, receive=None):
        plan(jobs.course(notebook), nb)  # as the real one plans before it starts a kernel
        for question, document in documents.items():
            receive(question, document)
        return Execution()

    return run


# An answer the old judge raised on (numpy's reshape to (0, 10**30)), one it could not decode
# (an int of 400 digits), and one that is no answer at all.
MALFORMED_ANSWERS = [
    {"answers": [{"name": "x", "value": {"t": "array", "shape": [0, 10**30], "data": []}}]},
    {"answers": [{"name": "x", "value": {"t": "array", "shape": [1], "data": [10**400]}}]},
    {"records": [1], "end": "ok"},
]


@pytest.mark.parametrize("document", MALFORMED_ANSWERS)
def test_a_malformed_answer_costs_only_its_question(tmp_path, monkeypatch, document):
    """Does an answer the judge cannot handle give its question 0 with "could not be judged",
    while every other question keeps its points and the written answer its hand grader?"""
    job = job_for(tmp_path)
    questions = list(jobs.course(NOTEBOOK).questions)
    refs = references(questions)
    monkeypatch.setattr(jobs, "load_references", lambda out, nb: refs)
    sent = {**refs, questions[0]: {**document, "end": "ok"}}
    monkeypatch.setattr(student, "run_notebook", kernel_sending(sent))
    result = job(tmp_path / "out", Settings(), 0)
    assert result.status == "ok"
    first, *others = result.questions
    assert first.points == 0.0 and first.status == "ok"
    assert "could not be judged" in first.messages[0]
    assert all(q.points == q.max_points for q in others if q.status == "ok")
    assert [q.points for q in others if q.status == "hand"] == [None]


def test_a_broken_rule_is_a_grader_error_not_a_zero(tmp_path, monkeypatch, capsys):
    """Does a rule that raises on a well-formed answer (the grader's bug) make the notebook a
    grader_error, logged for the instructor, with no points taken?"""
    job = job_for(tmp_path)
    questions = list(jobs.course(NOTEBOOK).questions)
    refs = references(questions)
    monkeypatch.setattr(jobs, "load_references", lambda out, nb: refs)
    monkeypatch.setattr(student, "run_notebook", kernel_sending(refs))

    def broken(mine, ref, theirs, answers):
        raise IndexError("a bug in the grader")

    monkeypatch.setitem(rules.RULES, "close", broken)
    result = job(tmp_path / "out", Settings(), 0)
    assert result.status == "grader_error" and {q.points for q in result.questions} == {None}
    assert "grader_error: the judge failed on" in capsys.readouterr().err
    monkeypatch.undo()
    assert not job.done(tmp_path / "out")  # a rerun grades it again
    assert job(tmp_path / "out", Settings(), 0).status == "grader_error"  # (no kernel here)


def test_a_grader_failure_stays_a_grader_error(tmp_path, monkeypatch):
    """Is a kernel that cannot start (GraderError) still `grader_error`, no points given?"""
    job = job_for(tmp_path)
    monkeypatch.setattr(jobs, "load_references", lambda out, nb: {})

    def broken(*args):
        raise GraderError("the kernel cannot start")

    monkeypatch.setattr(student, "run_notebook", broken)
    result = job(tmp_path / "out", Settings(), 0)
    assert result.status == "grader_error" and {q.points for q in result.questions} == {None}


def test_a_250_character_id_writes_its_result(tmp_path):
    """Does a 250-character student id get a result file under a bounded name?"""
    job = StudentJob("x" * 250, NOTEBOOK, "missing", message="not submitted")
    job(tmp_path, Settings(), 0)
    path = job.result_path(tmp_path)
    assert path.is_file() and path.parent.name == file_stem("x" * 250)
    assert NotebookResult.from_json(read_json(path)).student_id == "x" * 250


def test_run_all_keeps_every_jobs_exception():
    """Does run_all return every job, a job that raised SystemExit included, whether its pure
    part or its finish raised, and hand each finish what its pure part returned?"""

    def pure(slot, job):
        if job == 2:
            raise SystemExit("gone")
        return job * 10

    def finish(job, returned):
        if job == 4:
            raise ValueError("disk full")
        return returned

    executor = LocalExecutor(2)
    try:
        done = dict(
            run_all(executor, [1, 2, 3, 4, 5], lambda job: (pure, job), finish, "test", False)
        )
    finally:
        executor.shutdown()
    assert done[1] == 10 and done[3] == 30 and done[5] == 50
    assert isinstance(done[2], SystemExit) and isinstance(done[4], ValueError)


def test_a_lost_worker_is_a_grader_error_a_rerun_retries(tmp_path):
    """Does an executor's failure (Dask's KilledWorker: the worker died with the notebook on
    it) write a grader_error result, no points given, that a rerun grades again?"""
    job = job_for(tmp_path)
    out = tmp_path / "out"

    class KilledWorker(Exception):
        pass

    result = job.finish(out, KilledWorker("attempted to run task on 4 workers, all died"))
    assert result.status == "grader_error" and {q.points for q in result.questions} == {None}
    assert "KilledWorker" in result.message and "not the student's" in result.message
    assert read_json(job.result_path(out))["status"] == "grader_error"
    assert not job.done(out)


@pytest.mark.parametrize("content", [None, "{not json", "[1]", '{"questions": 3}'])
def test_finish_writes_everything_when_a_result_is_missing_or_corrupt(tmp_path, content):
    """With one result file missing or corrupt, and the gradebook failing, are scores.csv and
    the feedback still written for everyone, the broken one as grader_error, exit 1?"""
    out = tmp_path / "out"
    good = StudentJob("ada", NOTEBOOK, "missing", message="not submitted")
    bad = StudentJob("ben", NOTEBOOK, "missing", message="not submitted")
    good(out, Settings(), 0)
    if content is not None:
        bad.result_path(out).parent.mkdir(parents=True)
        bad.result_path(out).write_text(content)
    results = collect.load_results(out, [good, bad], {bad: OSError("disk full")})
    assert [r.status for r in results] == ["missing", "grader_error"]

    def no_gradebook(*args):
        raise RuntimeError("database is locked")

    patch = pytest.MonkeyPatch()
    patch.setattr(gradebook, "sync", no_gradebook)
    patch.setattr(outputs, "write_autograded", lambda *args: None)
    try:
        code = outputs.finish(out, "sqlite://", [good, bad], results)
    finally:
        patch.undo()
    assert code == 1
    with open(out / "scores.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert {r["student_id"] for r in rows} == {"ada", "ben"}
    assert {r["status"] for r in rows if r["student_id"] == "ben"} == {"grader_error"}
    assert len(list((out / "feedback").iterdir())) == 2


# ------------------------------------------------------------------ kernel messages


class FakeClient:
    """Stands in for jupyter_client's BlockingKernelClient: hands out prepared iopub and
    shell messages."""

    def __init__(self, iopub: list, shell: list = ()):
        self.iopub, self.shell = list(iopub), list(shell)
        self.shell_channel = self

    def execute(self, code, **kwargs) -> str:
        return "m1"

    def get_iopub_msg(self, timeout=None):
        if not self.iopub or self.iopub[0] is Empty:  # Empty: one poll that finds nothing
            self.iopub[:1] = []
            raise Empty
        return self.iopub.pop(0)

    def msg_ready(self) -> bool:
        return bool(self.shell)

    def get_shell_msg(self, timeout=None):
        return self.shell.pop(0)


class FakeManager:
    def is_alive(self) -> bool:
        return True


def fake_kernel(iopub: list, shell: list = ()) -> SandboxedKernel:
    kernel = SandboxedKernel.__new__(SandboxedKernel)  # no sandbox, no process
    kernel.limits = Limits(cell_timeout_s=5)
    kernel.kc, kernel.km, kernel.cgroup, kernel._monitor, kernel.forked = (
        FakeClient(iopub, shell), FakeManager(), None, None, None,
    )  # fmt: skip
    return kernel


def mine(msg_type: str, content) -> dict:
    return {"parent_header": {"msg_id": "m1"}, "msg_type": msg_type, "content": content}


IDLE = mine("status", {"execution_state": "idle"})
RECORDS = mine("display_data", {"data": {"text/x-r": '{"records": []}'}})


def test_well_formed_messages_keep_one_document():
    """Are stdout and the last document on the kept MIME type returned, one document only?"""
    first = mine("display_data", {"data": {"text/x-r": "first"}})
    stream = mine("stream", {"name": "stdout", "text": "hi\n"})
    outcome = fake_kernel([first, stream, RECORDS, IDLE]).run("x", keep="text/x-r")
    assert (outcome.status, outcome.stdout, outcome.result) == ("ok", "hi\n", '{"records": []}')


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"parent_header": {"msg_id": "m1"}, "msg_type": "stream"},
        {"parent_header": 5, "msg_type": "stream", "content": {}},
        mine("stream", ["not", "a", "mapping"]),
        mine("stream", {"name": "stdout", "text": 12}),
        mine("stream", {"name": "stdout"}),
        mine("error", {"ename": "X"}),
        mine("display_data", {"data": [1, 2]}),
        mine("status", {}),
    ],
)
def test_malformed_messages_fail_the_cell_not_the_grader(bad):
    """Does a signed message with missing or mistyped parts fail its cell (status error, the
    grader's reason, no document kept), with no exception in the grader?"""
    outcome = fake_kernel([bad, RECORDS, IDLE]).run("x", keep="text/x-r")
    assert (outcome.status, outcome.error, outcome.result) == ("error", MALFORMED, None)


def test_a_lost_idle_status_ends_the_cell_on_its_reply():
    """When the idle status is lost (a flood filled the queue), does the execute_reply on the
    shell channel end the cell instead of a timeout?"""
    reply = {"parent_header": {"msg_id": "m1"}, "msg_type": "execute_reply", "content": {}}
    outcome = fake_kernel([RECORDS], [{"parent_header": 7}, reply]).run("x", keep="text/x-r")
    assert outcome == CellOutcome("ok", result='{"records": []}')


def test_output_that_comes_after_the_reply_is_kept():
    """On a busy machine the kernel's IO thread may send a cell's last output and its idle
    status a poll or two after the execute_reply: is that output kept (ending the cell at the
    reply lost it now and then beside two CPU hogs)?"""
    reply = {"parent_header": {"msg_id": "m1"}, "msg_type": "execute_reply", "content": {}}
    late = mine("stream", {"name": "stdout", "text": "spawned\n"})
    outcome = fake_kernel([Empty, Empty, late, IDLE], [reply]).run("x")
    assert (outcome.status, outcome.stdout) == ("ok", "spawned\n")


FLOOD = """
import json, sys, time
from autograder.grading.isolation.kernel import Limits, SandboxedKernel, TOO_LARGE
limits = Limits(memory_bytes=3 * 2**30, cell_timeout_s=240)
with SandboxedKernel("flood", limits=limits) as kernel:
    began = time.monotonic()
    flood = kernel.run(
        "from IPython.display import display\\n"
        "for i in range(MESSAGES):\\n"
        "    display({'text/x-r': 'x' * (100 * 2**20)}, raw=True)\\n"
        "display({'text/x-r': '{\\"records\\": []}'}, raw=True)\\n",
        keep="text/x-r",
    )
    after = kernel.run("print(6 * 7)")
    seconds = time.monotonic() - began
# VmHWM, this process's own peak: ru_maxrss would also count the RSS of the pytest worker that
# started it (Linux records the forking parent's peak in it at exec), 1.5 GB with torch loaded
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
peak = int(status["VmHWM"].split()[0]) * 1024
print(json.dumps({"flood": [flood.status, flood.error, flood.result], "after": after.stdout,
                  "peak": peak, "seconds": seconds, "too_large": TOO_LARGE}))
"""


@pytest.mark.slow
@NEEDS_SANDBOX
def test_a_flood_of_huge_messages_leaves_the_grader_small():
    """Does a cell that displays 8 messages of 100 MB each (over the 64 MiB cap) fail with the
    grader's reason and keep nothing (its question would score 0), while the grader process
    stays under 512 MiB at its peak (about 50 MiB here; 750 MiB when the cap is raised to let the
    flood through) and the next cell runs?"""
    code = textwrap.dedent(FLOOD).replace("MESSAGES", "8")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["flood"] == ["error", report["too_large"], None], report
    assert report["after"] == "42\n"
    assert report["peak"] < 512 * 2**20, report
