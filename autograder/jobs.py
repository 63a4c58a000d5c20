"""The units of batch grading and their results on disk.

A job is plain data (which notebook, whose, where the file is) and a function of it and a
worker slot, so any executor can run it: threads here, machines later. Every finished job
is written atomically to its own JSON file; a rerun skips the jobs whose file is there and
was made from the same submission, solution and grader, so an interrupted batch resumes
where it stopped and a finished one is not graded twice.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from autograder import judge as judging
from autograder.course import RELEASE, SOLUTIONS
from autograder.kernel import Limits, SandboxedKernel
from autograder.notebooks import grade_id, read
from autograder.redaction import error_kind
from autograder.runner import Course, Execution, GraderError, execute, plan

GRADER_FILES = ("recorder.py", "judge.py", "runner.py", "kernel.py", "jobs.py")


@dataclass
class Settings:
    limits: Limits = field(default_factory=Limits)
    notebook_timeout_s: float = 900.0
    isolated: bool = True
    hidden: list[str] = field(default_factory=list)  # folders no kernel may see
    max_record_bytes: int = 16 * 2**20


@dataclass
class QuestionResult:
    question: str
    points: float | None  # None: awaits a hand grader, or the grader failed
    max_points: float
    status: str  # ok, timeout, memory, crashed, missing, invalid, grader_error, hand
    messages: list[str] = field(default_factory=list)


@dataclass
class NotebookResult:
    student_id: str
    notebook: str  # file stem
    status: str  # ok, missing, invalid, grader_error
    key: str  # what it was graded from; a rerun regrades when this changes
    questions: list[QuestionResult] = field(default_factory=list)
    message: str = ""
    cells: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    restarts: int = 0

    @classmethod
    def from_json(cls, data: dict) -> NotebookResult:
        data = dict(data)
        data["questions"] = [QuestionResult(**q) for q in data["questions"]]
        return cls(**data)


def write_json(path: Path, data) -> None:
    """Write atomically: a reader (or a rerun after kill -9) sees the old file or the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(data, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def sha256(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


@functools.cache
def grader_key() -> str:
    """Changes when the grading code or the framework versions change."""
    here = Path(__file__).parent
    versions = []
    for package in ("numpy", "torch", "tensorflow", "tensorflow-cpu", "keras"):
        try:
            versions.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    return sha256(*((here / name).read_bytes() for name in GRADER_FILES), ",".join(versions))


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
        isolated=settings.isolated,
    )


def _run_notebook(name: str, nb, notebook: str, worker: int, settings: Settings) -> Execution:
    items = plan(course(notebook), nb)
    try:
        with _kernel(name, worker, settings) as kernel:
            return execute(items, kernel, settings.notebook_timeout_s, settings.max_record_bytes)
    except GraderError:
        raise
    except Exception as error:  # the sandbox or kernel machinery, not the student's code
        raise GraderError(f"{type(error).__name__}: {error}") from error


# ----------------------------------------------------------------------------- references


@dataclass(frozen=True)
class ReferenceJob:
    notebook: str
    run: int  # 0 or 1: the solution runs twice, to find values that vary between runs

    @property
    def label(self) -> str:
        return f"solution {self.notebook} (run {self.run + 1})"

    def path(self, out: Path) -> Path:
        return out / "references" / f"{self.notebook}.run{self.run}.json"

    def done(self, out: Path) -> bool:
        data = read_json(self.path(out))
        return bool(data) and data.get("key") == solution_key(self.notebook)

    def __call__(self, out: Path, settings: Settings, worker: int) -> None:
        nb = read(SOLUTIONS / f"{self.notebook}.ipynb")
        run = _run_notebook(f"solution-{self.notebook}", nb, self.notebook, worker, settings)
        for question, document in run.documents.items():
            if not document or document.get("end") != "ok":
                end = (document or {}).get("message") or run.probe_status.get(question)
                raise GraderError(
                    f"the solution of {self.notebook} does not pass its own test {question} "
                    f"in the sandbox: {end}"
                )
        write_json(
            self.path(out),
            {
                "key": solution_key(self.notebook),
                "documents": run.documents,
                "seconds": run.seconds,
            },
        )


def load_references(out: Path, notebook: str) -> dict[str, dict]:
    """question -> {"records", "stable"} from the solution's two runs."""
    first, second = (read_json(ReferenceJob(notebook, r).path(out)) for r in (0, 1))
    if not first or not second:
        raise GraderError(f"the references of {notebook} are missing; rerun the grader")
    references = {}
    for question, document in first["documents"].items():
        records = document["records"]
        stable = judging.stable_slots(records, second["documents"][question]["records"])
        reference = {"records": records, "stable": stable}
        verdict = judging.judge(document, reference)
        if not verdict.passed:
            raise GraderError(f"the solution fails {notebook} {question}: {verdict.messages}")
        references[question] = reference
    return references


# ------------------------------------------------------------------------------- students


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
        content = Path(self.path).read_bytes() if self.file_status == "ok" else b""
        return sha256(solution_key(self.notebook), self.file_status, content)

    def result_path(self, out: Path) -> Path:
        return out / "results" / self.student_id / f"{self.notebook}.json"

    def done(self, out: Path) -> bool:
        data = read_json(self.result_path(out))
        return bool(data) and data.get("key") == self.key() and data["status"] != "grader_error"

    def __call__(self, out: Path, settings: Settings, worker: int) -> NotebookResult:
        try:
            result = self.grade(out, settings, worker)
        except GraderError as error:
            result = self._without_run("grader_error", f"grader error (not the student's): {error}")
        write_json(self.result_path(out), asdict(result))
        return result

    def _without_run(self, status: str, message: str) -> NotebookResult:
        info = course(self.notebook)
        questions = [
            QuestionResult(
                q.id, None if status == "grader_error" else 0.0, q.points, status, [message]
            )
            for q in info.questions.values()
        ]
        questions += [
            QuestionResult(gid, None if status == "grader_error" else 0.0, pts, status, [message])
            for gid, (pts, _) in info.written.items()
        ]
        return NotebookResult(
            self.student_id, self.notebook, status, self.key(), questions, message
        )

    def grade(self, out: Path, settings: Settings, worker: int) -> NotebookResult:
        if self.file_status != "ok":
            return self._without_run(self.file_status, self.message or self.file_status)
        try:
            nb = read(self.path)
        except Exception as error:  # changed since discovery, or unreadable after all
            return self._without_run("invalid", f"not a readable notebook: {error}")
        references = load_references(out, self.notebook)
        info = course(self.notebook)
        run = _run_notebook(
            f"{self.student_id}-{self.notebook}", nb, self.notebook, worker, settings
        )
        questions = []
        for question in info.questions.values():
            verdict = judging.judge(
                run.documents.get(question.id), references[question.id], info.secret_lines
            )
            status = "ok"
            if not verdict.passed:
                failure = run.section_failures.get(question.id)
                probe = run.probe_status.get(question.id, "ok")
                status = (
                    {"died": "crashed"}.get(probe, probe)
                    if probe in ("timeout", "memory", "died")
                    else "ok"
                )
                if status == "ok" and failure:
                    status = {"died": "crashed"}.get(failure, failure)
                if status != "ok":
                    what = {
                        "timeout": "ran out of time",
                        "memory": "ran out of memory",
                        "crashed": "crashed the kernel",
                    }[status]
                    verdict.messages.insert(0, f"a cell this question needs {what}")
            points = float(question.points) if verdict.passed else 0.0
            questions.append(
                QuestionResult(question.id, points, question.points, status, verdict.messages)
            )
        answers = {grade_id(c): c.source for c in nb.cells if c.cell_type == "markdown"}
        for gid, (pts, stub) in info.written.items():
            answer = answers.get(gid, stub)
            if answer.strip() == stub.strip():
                questions.append(QuestionResult(gid, 0.0, pts, "hand", ["not answered"]))
            else:
                questions.append(QuestionResult(gid, None, pts, "hand"))
        cells = [
            {"label": c.label, "status": c.status, "seconds": c.seconds,
             "kind": error_kind(c.error)}  # the kernel's message never leaves the job
            for c in run.cells
            if c.status != "ok"
        ]  # fmt: skip
        return NotebookResult(
            self.student_id, self.notebook, "ok", self.key(), questions,
            cells=cells, seconds=run.seconds, restarts=run.restarts,
        )  # fmt: skip
