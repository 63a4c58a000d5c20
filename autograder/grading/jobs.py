"""The units of batch grading and their results on disk.

A job is plain data (which notebook, whose, where the file is) in two parts. Its pure part
(`run_solution`, `grade_submission`) is a function of data and a sandbox slot that returns
data: it reads nothing of the grading folder, so any executor can run it, threads here or a
Dask worker on another machine (the submission travels as the file's bytes, the references
as the documents the client checked). Its client part (`finish`) turns what came back into a
file: every finished job is written atomically to its own JSON file, by the client alone; a
rerun skips the jobs whose file is there and was made from the same submission, solution and
grader, so an interrupted batch resumes where it stopped and a finished one is not graded
twice.
"""

from __future__ import annotations

import datetime
import functools
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import nbformat

from autograder.course import RELEASE, REPO_ROOT, SOLUTIONS
from autograder.grading import failures, reasons
from autograder.grading import judge as judging
from autograder.grading.answers import MAX_DOCUMENT_BYTES
from autograder.grading.failures import judged, question_status, student_failure, where
from autograder.grading.kernel import SandboxedKernel
from autograder.grading.messages import Limits
from autograder.grading.names import file_stem
from autograder.grading.runner import Course, Execution, GraderError, Receiver, execute, plan
from autograder.grading.sandbox import Isolation
from autograder.notebooks import grade_id, read
from autograder.results import (
    UNANSWERED,
    NotebookResult,
    QuestionResult,
    Status,
    read_json,
    sha256,
    write_json,
)

PACKAGES = ("autograder", "cs231n_utils")  # every source file of these can change a verdict


@dataclass
class Settings:
    limits: Limits = field(default_factory=Limits)
    notebook_timeout_s: float = 900.0
    isolation: Isolation = Isolation.SANDBOX
    hidden: list[str] = field(default_factory=list)  # folders no kernel may see
    max_record_bytes: int = MAX_DOCUMENT_BYTES  # an answers document, in the kernel and here
    reasons: bool = True  # a second run, without hidden tests, for failed checks (reasons.py)


@functools.cache
def grader_key() -> str:
    """Changes when any source of the grader or the helpers, or a framework version, does."""
    root = REPO_ROOT
    sources = sorted(p for package in PACKAGES for p in (root / package).rglob("*.py"))
    versions = []
    for package in ("numpy", "torch", "tensorflow", "tensorflow-cpu", "keras"):
        try:
            versions.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    return sha256(
        *(f"{p.relative_to(root)}\n".encode() + p.read_bytes() for p in sources),
        ",".join(versions),
    )


@functools.cache
def course(notebook: str) -> Course:
    return Course.from_notebooks(
        notebook, read(RELEASE / f"{notebook}.ipynb"), read(SOLUTIONS / f"{notebook}.ipynb")
    )


def solution_key(notebook: str) -> str:
    return sha256(
        grader_key(),
        (SOLUTIONS / f"{notebook}.ipynb").read_bytes(),
        (RELEASE / f"{notebook}.ipynb").read_bytes(),
    )


def _kernel(name: str, worker: int, settings: Settings) -> SandboxedKernel:
    return SandboxedKernel(
        name,
        worker=worker,
        limits=settings.limits,
        hidden=[Path(p) for p in settings.hidden],
        isolation=settings.isolation,
    )


def _run_notebook(
    name: str, nb, notebook: str, worker: int, settings: Settings, receive: Receiver | None = None
) -> Execution:
    """Run a notebook in a sandboxed kernel, its answers documents sent to `receive` as they
    arrive (runner.execute); a failure of the machinery is a GraderError."""
    items = plan(course(notebook), nb)
    try:
        with _kernel(name, worker, settings) as kernel:
            return execute(
                items, kernel, settings.notebook_timeout_s, settings.max_record_bytes, receive
            )
    except GraderError:
        raise
    except Exception as error:  # the sandbox or kernel machinery, not the student's code
        raise GraderError(f"{type(error).__name__}: {error}") from error


def reference_path(out: Path, notebook: str, run: int) -> Path:
    """Where run 0 or 1 of a solution keeps its answers (references.ReferenceJob)."""
    return out / "references" / f"{notebook}.run{run}.json"


_references: dict[tuple[str, str, str], dict[str, dict]] = {}  # loaded once per run


def load_references(out: Path, notebook: str) -> dict[str, dict]:
    """question -> the solution's answers document (the judge's reference), checked once:
    both runs of the solution agree wherever a rule compares values, and pass their own
    rules. Raises GraderError (an authoring problem, retried, never a zero) otherwise."""
    cache = (str(out), notebook, solution_key(notebook))
    if cache in _references:
        return _references[cache]
    first, second = (read_json(reference_path(out, notebook, r)) for r in (0, 1))
    if not first or not second:
        raise GraderError(f"the references of {notebook} are missing; rerun the grader")
    references, problems = {}, []
    for question, document in first["documents"].items():
        label = f"{notebook} {question}"
        problems += judging.check_reference(document, second["documents"].get(question), label)
        references[question] = document
    if problems:
        raise GraderError("; ".join(problems))
    _references[cache] = references
    return references


# ------------------------------------------------------------------------------- students


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
    run = _run_notebook(name, nb, notebook, slot, settings, receive)
    if settings.reasons and settings.isolation in reasons.ISOLATED:
        why = functools.partial(_kernel, f"{name}-why", slot, settings)
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
        submission.student_id, notebook, Status.OK, submission.key, questions,
        cells=failures.cell_reports(run, set(info.questions)), seconds=run.seconds,
        restarts=run.restarts,
        submission=submission.submission_key, submitted_at=submission.submitted_at,
    )  # fmt: skip


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


def reference_problem(out: Path, notebook: str) -> dict | str:
    """The checked references of a notebook (load_references), or why there are none."""
    try:
        return load_references(out, notebook)
    except GraderError as error:
        return str(error)


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
            self.student_id, self.notebook, self.file_status, self.message, content,
            key, submission, self.submitted_at(),
        )  # fmt: skip

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
