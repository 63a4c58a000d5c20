"""One student's notebook as a job: its pure part (grade_submission, run by any executor
on the submission's bytes and the checked references) and its client part (StudentJob.finish,
which writes the result file). The shared parts of every job are in jobs.py."""

from __future__ import annotations

import datetime
import functools
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from autograder.grading.executors import failures, reasons
from autograder.grading.executors.failures import judged, question_status, student_failure, where
from autograder.grading.executors.jobs import (
    Settings,
    course,
    reference_problem,
    run_notebook,
    sandboxed_kernel,
    solution_key,
)
from autograder.grading.inputs.names import file_stem
from autograder.grading.isolation.runner import GraderError
from autograder.grading.judging import judge as judging
from autograder.notebooks import grade_id
from autograder.results import (
    UNANSWERED,
    NotebookResult,
    QuestionResult,
    Status,
    read_json,
    sha256,
    write_json,
)


@dataclass(frozen=True)
class Submission:
    """What a worker needs to grade one notebook: the file's bytes (None when there is no
    readable file) and the keys the client computed from them."""

    student_id: str
    notebook: str
    file_status: str
    message: str
    content: bytes | None
    key: str
    submission_key: str
    submitted_at: str

    def without_run(self, status: str, message: str) -> NotebookResult:
        return _without_run(
            self.student_id, self.notebook, status, message, self.key, self.submission_key
        )


def grade_submission(
    slot: int, submission: Submission, references: dict | str, settings: Settings
) -> dict:
    """The pure part of grading a notebook: {"result": the NotebookResult as a dict, "log":
    a line for the instructor or None}, whatever happens. A failure of the grading machinery
    (GraderError, or references that are a problem's description instead of the documents)
    is a grader_error, logged and retried on a rerun; so is an exception of the judge on the
    answers it validated (judge.py). Anything else that goes wrong while reading or planning
    this notebook is caused by its content, and costs this notebook its points (invalid),
    never the batch; a malformed answer costs only its question (judge.py)."""
    log = None
    try:
        result = _grade(slot, submission, references, settings)
    except GraderError as error:
        message = f"grader error (not the student's): {error}"
        log = f"{submission.student_id} {submission.notebook}: grader_error: {error}"
        result = submission.without_run("grader_error", message)
    except Exception as error:
        status, message = student_failure(error)
        log = f"{submission.student_id} {submission.notebook}: {status}: {where(error)}"
        result = submission.without_run(status, message)
    return {"result": asdict(result), "log": log}


def _grade(
    slot: int, submission: Submission, references: dict | str, settings: Settings
) -> NotebookResult:
    if submission.file_status != "ok":
        return submission.without_run(
            submission.file_status, submission.message or submission.file_status
        )
    try:
        nb = nbformat.reads(submission.content.decode("utf-8"), as_version=4)
    except Exception:  # changed since discovery, or unreadable after all
        return submission.without_run("invalid", "not a readable notebook")
    if isinstance(references, str):
        raise GraderError(references)
    notebook = submission.notebook
    info = course(notebook)
    verdicts: dict[str, judging.Verdict] = {}

    def receive(question: str, document: dict | None) -> None:
        verdicts[question] = judged(document, references, question)

    name = f"{submission.student_id}-{notebook}"
    run = run_notebook(name, nb, notebook, slot, settings, receive)
    if settings.reasons and settings.isolation in reasons.ISOLATED:
        why = functools.partial(sandboxed_kernel, f"{name}-why", slot, settings, notebook)
        reasons.give(verdicts, run.reasons, info, nb, why, settings.notebook_timeout_s)
    questions = []
    for question in info.questions.values():
        verdict = verdicts.get(question.id) or judged(None, references, question.id)
        status = Status.OK if verdict.passed else question_status(run, question.id)
        questions.append(judging.question_result(question.id, question.points, verdict, status))
    answers = {grade_id(c): c.source for c in nb.cells if c.cell_type == "markdown"}
    for gid, (pts, stub) in info.written.items():
        answer = answers.get(gid, stub)
        if answer.strip() == stub.strip():
            questions.append(QuestionResult(gid, 0.0, pts, Status.HAND, [UNANSWERED]))
        else:
            questions.append(QuestionResult(gid, None, pts, Status.HAND))
    return NotebookResult(
        submission.student_id,
        notebook,
        Status.OK,
        submission.key,
        questions,
        cells=failures.cell_reports(run, set(info.questions)),
        seconds=run.seconds,
        restarts=run.restarts,
        submission=submission.submission_key,
        submitted_at=submission.submitted_at,
    )


def _without_run(
    student_id: str, notebook: str, status: str, message: str, key: str, submission: str
) -> NotebookResult:
    info = course(notebook)
    points = None if status == "grader_error" else 0.0
    questions = [
        QuestionResult(q.id, points, q.points, status, [message]) for q in info.questions.values()
    ]
    questions += [
        QuestionResult(gid, points, pts, status, [message])
        for gid, (pts, _) in info.written.items()
    ]
    return NotebookResult(
        student_id, notebook, status, key, questions, message, submission=submission
    )


@dataclass(frozen=True)
class StudentJob:
    student_id: str
    notebook: str
    file_status: str  # from discovery: ok, missing or invalid
    path: str | None = None
    message: str = ""

    @property
    def label(self) -> str:
        return f"{self.student_id} {self.notebook}"

    def key(self) -> str:
        return sha256(solution_key(self.notebook), self.submission_key())

    def submission_key(self) -> str:
        """What the student submitted, whatever the grader: a hand grade stands while it does."""
        content = Path(self.path).read_bytes() if self.file_status == "ok" else b""
        return sha256(self.file_status, content)

    def result_path(self, out: Path) -> Path:
        return out / "results" / file_stem(self.student_id) / f"{self.notebook}.json"

    def done(self, out: Path) -> bool:
        data = read_json(self.result_path(out))
        return bool(data) and data.get("key") == self.key() and data["status"] != "grader_error"

    def submission(self) -> Submission:
        """The file read once, with its keys: what travels to the worker."""
        content = None
        if self.file_status == "ok":
            try:
                content = Path(self.path).read_bytes()
            except OSError:  # the file went away since discovery: regrade it next time
                pass
        if self.file_status == "ok" and content is None:
            key, submission = sha256(solution_key(self.notebook), "unreadable"), "unreadable"
        else:
            submission = sha256(self.file_status, content or b"")
            key = sha256(solution_key(self.notebook), submission)
        return Submission(
            self.student_id,
            self.notebook,
            self.file_status,
            self.message,
            content,
            key,
            submission,
            self.submitted_at(),
        )

    def task(self, settings: Settings, references: object) -> tuple:
        """(function, *arguments) of the pure part: function(slot, *arguments). references:
        the checked references (reference_problem), or an executor's handle of them."""
        return grade_submission, self.submission(), references, settings

    def finish(self, out: Path, returned: dict | BaseException) -> NotebookResult:
        """Write the result file (the client's part). An executor's failure (a worker lost
        with the notebook on it: Dask's KilledWorker) is a grader_error, retried by a rerun."""
        if isinstance(returned, BaseException):
            why = f"{type(returned).__name__}: {returned}"
            print(f"cs231n-grade: {self.label}: grader_error: {why}", file=sys.stderr)
            result = self._without_run("grader_error", f"grader error (not the student's): {why}")
        else:
            result = NotebookResult.from_json(returned["result"])
            if (result.student_id, result.notebook) != (self.student_id, self.notebook):
                raise ValueError(f"{self.label}: the result of another notebook came back")
            if returned.get("log"):
                print(f"cs231n-grade: {returned['log']}", file=sys.stderr)
        write_json(self.result_path(out), asdict(result))
        return result

    def __call__(self, out: Path, settings: Settings, worker: int) -> NotebookResult:
        """The whole job in this process: grade and write the result file."""
        function, *arguments = self.task(settings, reference_problem(out, self.notebook))
        return self.finish(out, function(worker, *arguments))

    def _without_run(self, status: str, message: str) -> NotebookResult:
        try:
            key, submission = self.key(), self.submission_key()
        except OSError:  # the file went away since discovery: regrade it next time
            key, submission = sha256(solution_key(self.notebook), "unreadable"), "unreadable"
        return _without_run(self.student_id, self.notebook, status, message, key, submission)

    def submitted_at(self) -> str:
        """When the file was last changed (a zip entry's time once extracted), UTC ISO 8601;
        what formgrader shows as the submission's timestamp."""
        try:
            stamp = Path(self.path).stat().st_mtime
        except (OSError, TypeError):
            return ""
        return datetime.datetime.fromtimestamp(stamp, datetime.UTC).isoformat()
