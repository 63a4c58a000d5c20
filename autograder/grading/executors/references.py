"""The solution's runs, the references students are judged against, as jobs.

Each solution notebook runs twice per term in the sandbox (values that vary between its
runs are found this way; jobs.load_references checks the two agree). `run_solution` is the
pure part, run wherever the executor puts it; `ReferenceJob.finish` writes what it returned
into OUT/references/, on the client, under the key of the solution and grader it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.course import SOLUTIONS
from autograder.grading.executors.jobs import Settings, reference_path, run_notebook, solution_key
from autograder.grading.isolation.runner import GraderError
from autograder.notebooks import read
from autograder.results import read_json, write_json


def run_solution(slot: int, notebook: str, run: int, settings: Settings) -> dict:
    """The pure part of a reference run: the solution's answers documents and its run time.
    Raises GraderError when the solution fails one of its own tests in the sandbox."""
    nb = read(SOLUTIONS / f"{notebook}.ipynb")
    execution = run_notebook(f"solution-{notebook}", nb, notebook, slot, settings)
    for question, document in execution.documents.items():
        if not document or document.get("end") != "ok":
            end = (document or {}).get("error") or execution.probe_status.get(question)
            raise GraderError(
                f"the solution of {notebook} does not pass its own test {question} "
                f"in the sandbox: {end}"
            )
    return {"documents": execution.documents, "seconds": execution.seconds}


@dataclass(frozen=True)
class ReferenceJob:
    notebook: str
    run: int  # 0 or 1: the solution runs twice, to find values that vary between runs

    @property
    def label(self) -> str:
        return f"solution {self.notebook} (run {self.run + 1})"

    def path(self, out: Path) -> Path:
        return reference_path(out, self.notebook, self.run)

    def done(self, out: Path) -> bool:
        data = read_json(self.path(out))
        return bool(data) and data.get("key") == solution_key(self.notebook)

    def task(self, settings: Settings) -> tuple:
        """(function, *arguments) of the pure part: function(slot, *arguments)."""
        return run_solution, self.notebook, self.run, settings

    def finish(self, out: Path, returned: dict | BaseException) -> dict:
        """Write what the pure part returned (the client's part); its error is raised."""
        if isinstance(returned, BaseException):
            raise returned
        document = {"key": solution_key(self.notebook), **returned}
        write_json(self.path(out), document)
        return document

    def __call__(self, out: Path, settings: Settings, worker: int) -> dict:
        """The whole job in this process."""
        function, *arguments = self.task(settings)
        return self.finish(out, function(worker, *arguments))
