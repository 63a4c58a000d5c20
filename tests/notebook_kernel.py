"""Run a notebook's cells one at a time in a live kernel, so that tests can re-run a
changed cell and a test cell without executing the whole notebook again."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from autograder.grading.isolation.runner import MIME, probe_code
from autograder.notebooks import HIDDEN_MARKERS, grade_id, is_test, strip_markers

MAX_ANSWER_BYTES = 16 * 2**20


class CellResult:
    def __init__(self, cell):
        self.outputs = cell.outputs

    @property
    def error(self) -> str | None:
        """'Name: message' of the exception the cell raised, or None."""
        for out in self.outputs:
            if out.output_type == "error":
                return f"{out.ename}: {out.evalue}"
        return None

    @property
    def stderr(self) -> str:
        return "".join(
            out.text for out in self.outputs if out.output_type == "stream" and out.name == "stderr"
        )

    @property
    def stdout(self) -> str:
        return "".join(
            out.text for out in self.outputs if out.output_type == "stream" and out.name == "stdout"
        )

    @property
    def answers(self) -> dict | None:
        """The answers document a probe (`NotebookKernel.probe`) displayed, or None."""
        import json

        for out in self.outputs:
            if MIME in out.get("data", {}):
                return json.loads(out["data"][MIME])
        return None

    @property
    def passed(self) -> bool:
        """Passed as nbgrader sees it: no exception and nothing written to stderr (for a probe:
        its test ran to the end)."""
        answers = self.answers
        finished = answers is None or answers.get("end") == "ok"
        return self.error is None and not self.stderr and finished


class NotebookKernel:
    """A kernel that has executed a notebook top to bottom and can run more code.

    with NotebookKernel(nb, cwd) as kernel:
        kernel.run_all()
        kernel.run("print(1)").stdout
    """

    def __init__(self, nb, cwd, timeout: int = 300, env: dict[str, str] | None = None):
        self.nb = nb
        self.env = env  # the kernel's environment variables; None: this process's
        # The client runs a scratch notebook of its own: nbclient stores each executed cell
        # at its index in the client's notebook, which must not overwrite `nb`.
        self._scratch = nbformat.v4.new_notebook(metadata=nb.metadata)
        self.client = NotebookClient(
            self._scratch,
            timeout=timeout,
            allow_errors=True,
            kernel_name="python3",
            resources={"metadata": {"path": str(cwd)}},
        )
        self._context = None

    def __enter__(self) -> NotebookKernel:
        self._context = self.client.setup_kernel(**({} if self.env is None else {"env": self.env}))
        self._context.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._context.__exit__(*exc)

    def run(self, source: str) -> CellResult:
        cell = new_code_cell(source)
        self._scratch.cells.append(cell)
        self.client.execute_cell(cell, len(self._scratch.cells) - 1)
        return CellResult(cell)

    def probe(self, source: str) -> CellResult:
        """Run a graded test cell as the batch grader does: its hidden answers recorded."""
        return self.run(probe_code(source, MAX_ANSWER_BYTES))

    def run_all(self) -> dict[str, CellResult]:
        """Execute every code cell in order; results of cells with a grade_id, by grade_id.
        Graded test cells run as probes, so their results also hold the hidden answers."""
        results = {}
        for cell in self.nb.cells:
            if cell.cell_type != "code":
                continue
            if is_test(cell):
                result = self.probe(strip_markers(cell.source, HIDDEN_MARKERS))
            else:
                result = self.run(cell.source)
            if grade_id(cell):
                results[grade_id(cell)] = result
        return results

    def source(self, cell_id: str) -> str:
        for cell in self.nb.cells:
            if grade_id(cell) == cell_id:
                return cell.source
        raise KeyError(cell_id)
