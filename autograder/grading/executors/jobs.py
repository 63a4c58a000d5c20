"""The units of batch grading and their results on disk: what every job shares (the keys
that say when a result is current, a sandboxed kernel, a notebook's run, the solution's
checked references). The two kinds of job are references.ReferenceJob (a solution's run) and
student.StudentJob (one student's notebook).

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

import functools
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from autograder.course import RELEASE, REPO_ROOT, SOLUTIONS
from autograder.grading.isolation import warm
from autograder.grading.isolation.kernel import SandboxedKernel
from autograder.grading.isolation.messages import Limits
from autograder.grading.isolation.runner import (
    Course,
    Execution,
    GraderError,
    Receiver,
    execute,
    plan,
)
from autograder.grading.isolation.sandbox import Isolation
from autograder.grading.judging import judge as judging
from autograder.grading.judging.answers import MAX_DOCUMENT_BYTES
from autograder.notebooks import read
from autograder.results import read_json, sha256

PACKAGES = ("autograder", "cs231n_utils")  # every source file of these can change a verdict


@dataclass
class Settings:
    limits: Limits = field(default_factory=Limits)
    notebook_timeout_s: float = 900.0
    isolation: Isolation = Isolation.SANDBOX
    hidden: list[str] = field(default_factory=list)  # folders no kernel may see
    max_record_bytes: int = MAX_DOCUMENT_BYTES  # an answers document, in the kernel and here
    reasons: bool = True  # a second run, without hidden tests, for failed checks (reasons.py)
    warm: bool = True  # kernels forked from a server that imported the modules (warm.py)


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


def sandboxed_kernel(name: str, worker: int, settings: Settings, notebook: str) -> SandboxedKernel:
    """A kernel for `notebook`: warm (forked from a server that has imported what the
    notebook's release imports) where settings ask for it and the level allows it, else cold."""
    return SandboxedKernel(
        name,
        worker=worker,
        limits=settings.limits,
        hidden=[Path(p) for p in settings.hidden],
        isolation=settings.isolation,
        warm=notebook_modules(notebook) if settings.warm else None,
    )


@functools.cache
def notebook_modules(notebook: str) -> list[str]:
    """What the release of `notebook` imports, in order: its warm server's modules (warm.py).
    One notebook's, not the course's: a kernel forked from the server is then the kernel a
    cold start gives after its imports, no bigger and no slower to search (an attack that
    walks every object timed out with all of the course's frameworks loaded)."""
    return warm.imports(course(notebook).release)


def run_notebook(
    name: str, nb, notebook: str, worker: int, settings: Settings, receive: Receiver | None = None
) -> Execution:
    """Run a notebook in a sandboxed kernel, its answers documents sent to `receive` as they
    arrive (runner.execute); a failure of the machinery is a GraderError."""
    items = plan(course(notebook), nb)
    try:
        with sandboxed_kernel(name, worker, settings, notebook) as kernel:
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


def reference_problem(out: Path, notebook: str) -> dict | str:
    """The checked references of a notebook (load_references), or why there are none."""
    try:
        return load_references(out, notebook)
    except GraderError as error:
        return str(error)
