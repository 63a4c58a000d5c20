"""References computed on another machine and shipped as one file (`cs231n-grade --references
FILE`): the Gradescope package carries the solution's answers instead of the solutions.

`pack` gathers, from a grading folder where the solutions ran (references.ReferenceJob), both
checked runs of each notebook, with what they were made from: the release notebook, the graded
questions and their hidden tests, and the grader's sources. `install` checks a packed file
against the course found here and puts its runs where ReferenceJob keeps them, under this
machine's solution key, so that cs231n-grade runs no solution. A file that does not match is
refused with the reason (ReferencesError): answers of another release, other hidden tests or
another grader would give wrong scores.

Trusted side: imports nothing that runs in the student's kernel.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from autograder.course import RELEASE, REPO_ROOT
from autograder.grading.executors.jobs import (
    PACKAGES,
    course,
    load_references,
    reference_path,
    solution_key,
)
from autograder.grading.isolation.runner import GraderError
from autograder.results import read_json, sha256, write_json

FORMAT = "cs231n-references/1"
FRAMEWORKS = ("numpy", "torch", "tensorflow", "tensorflow-cpu", "keras")


class ReferencesError(ValueError):
    """A references file that cannot be used here; the message says why and what to do."""


def sources_key() -> str:
    """The grader's and the helpers' Python sources (jobs.grader_key without the versions)."""
    paths = sorted(p for package in PACKAGES for p in (REPO_ROOT / package).rglob("*.py"))
    return sha256(*(f"{p.relative_to(REPO_ROOT)}\n".encode() + p.read_bytes() for p in paths))


def versions() -> dict[str, str]:
    """The frameworks' versions, without a local label (torch's "+cpu" build computes alike)."""
    found = {}
    for package in FRAMEWORKS:
        try:
            found[package] = metadata.version(package).split("+")[0]
        except metadata.PackageNotFoundError:
            pass
    return found


def fingerprint(notebook: str) -> dict:
    """What a notebook's references were made for: its release, its graded questions in order
    and their test cells (hidden tests included), as the course here has them."""
    info = course(notebook)
    return {
        "release": sha256((RELEASE / f"{notebook}.ipynb").read_bytes()),
        "questions": list(info.questions),
        "tests": sha256(*(q.test_source for q in info.questions.values())),
    }


def pack(out: Path, notebooks: list[str]) -> dict:
    """The references file's content: both solution runs of each notebook, found in OUT and
    checked as grading checks them (jobs.load_references: they agree and pass their own rules).
    Raises GraderError when a notebook's runs are missing or do not check."""
    document = {"format": FORMAT, "sources": sources_key(), "versions": versions()}
    document["notebooks"] = {}
    for notebook in notebooks:
        load_references(out, notebook)
        runs = [read_json(reference_path(out, notebook, run))["documents"] for run in (0, 1)]
        document["notebooks"][notebook] = {**fingerprint(notebook), "runs": runs}
    return document


def install(path: Path, out: Path, notebooks: list[str]) -> list[str]:
    """Check the references file `path` against the course here and write its runs into OUT
    as this machine's solution runs of `notebooks`. Returns warnings (frameworks whose version
    differs from the build's); raises ReferencesError when the file does not match."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError, RecursionError) as error:
        raise ReferencesError(f"cannot read the references file {path}: {error}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ReferencesError(f"{path} is not a references file ({FORMAT})")
    if document.get("sources") != sources_key():
        raise ReferencesError(
            f"{path} was built with other grader sources (autograder/, cs231n_utils/) than "
            "these: build the package again from one checkout"
        )
    shipped = document.get("notebooks")
    shipped = shipped if isinstance(shipped, dict) else {}
    for notebook in notebooks:
        entry = shipped.get(notebook)
        if not isinstance(entry, dict):
            raise ReferencesError(f"{path} holds no references of {notebook}")
        mine = fingerprint(notebook)
        for field, what in (
            ("release", "release notebook"),
            ("questions", "graded questions"),
            ("tests", "graded tests (hidden tests included)"),
        ):
            if entry.get(field) != mine[field]:
                raise ReferencesError(
                    f"{path} was computed for another {what} of {notebook} than this one: "
                    "build the package again"
                )
        runs = entry.get("runs")
        if (
            not isinstance(runs, list)
            or len(runs) != 2
            or not all(isinstance(r, dict) and set(r) == set(mine["questions"]) for r in runs)
        ):
            raise ReferencesError(f"{path}: the runs of {notebook} do not answer its questions")
        for run, documents in enumerate(runs):
            target = {"key": solution_key(notebook), "documents": documents, "seconds": 0.0}
            write_json(reference_path(out, notebook, run), target)
        try:
            load_references(out, notebook)
        except GraderError as error:
            raise ReferencesError(f"{path}: the references of {notebook}: {error}") from None
    built, here = document.get("versions") or {}, versions()
    return [
        f"{package} {built.get(package)} computed the references, {here.get(package)} grades"
        for package in sorted(set(built) | set(here))
        if built.get(package) != here.get(package)
    ]
