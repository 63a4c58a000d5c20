"""The checks cs231n-submit makes on one saved notebook before packaging it: a usable file, the
graded and locked cells as released, one top-to-bottom run, outputs of a sane size, and the
same outcome in a fresh kernel. Each problem is one line a student can act on (a Report).
Kept apart from submit.py, which finds the notebooks, chooses which to run and writes the zip.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

# the grader refuses larger files (autograder/grading/inputs/submissions.py)
MAX_NOTEBOOK_BYTES = 20 * 2**20
LARGE_NOTEBOOK_BYTES = 5 * 2**20  # a finished notebook is well under 1 MB
LARGE_OUTPUT_BYTES = 1 * 2**20  # one cell's outputs
CELL_TIMEOUT_S = 600
SUBMIT_CALLS = ("check_and_package", "cs231n-submit")  # cells that submit are not re-run
RESTART_HINT = "restart the kernel, run all cells (Kernel > Restart Kernel and Run All), save"


@dataclass
class Report:
    """What was found in one notebook."""

    name: str
    path: Path | None = None
    problems: list[str] = field(default_factory=list)  # block packaging
    warnings: list[str] = field(default_factory=list)  # worth knowing, do not block

    def lines(self) -> list[str]:
        where = f" ({self.path})" if self.path and str(self.path) != self.name else ""
        verdict = "PROBLEMS" if self.problems else "ok"
        out = [f"{self.name}{where}: {verdict}"]
        out += [f"  problem: {p}" for p in self.problems]
        out += [f"  warning: {w}" for w in self.warnings]
        return out


def read_saved(path: Path, report: Report):
    """The saved notebook, or None (with a problem recorded) if it is not a usable one."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        report.problems.append(
            f"the file is {size / 2**20:.0f} MB; the grader refuses notebooks over "
            f"{MAX_NOTEBOOK_BYTES >> 20} MB: clear the large outputs (Edit > Clear Outputs) and "
            "run again"
        )
    if size == 0:
        report.problems.append("the file is empty: save the notebook (Ctrl+S) and try again")
        return None
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # nbformat raises several unrelated types for bad files
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        report.problems.append(
            f"not a valid notebook ({first}); was it saved completely? Save it (Ctrl+S) again"
        )
        return None
    return nb


def _label(index: int, cell) -> str:
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    first = next((line for line in cell.source.splitlines() if line.strip()), "").strip()
    first = first if len(first) <= 50 else first[:47] + "..."
    return f"cell {index + 1}" + (f" [{gid}]" if gid else "") + (f" `{first}`" if first else "")


def _is_submit_cell(cell) -> bool:
    return cell.cell_type == "code" and any(call in cell.source for call in SUBMIT_CALLS)


def check_cells(nb, released: list[dict], report: Report, allow_unfinished: bool) -> None:
    """Graded and locked cells present and unchanged; every exercise attempted."""
    by_id: dict[str, list] = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid:
            by_id.setdefault(gid, []).append(cell)
    for expected in released:
        gid = expected["grade_id"]
        found = by_id.get(gid, [])
        what = "graded test cell" if expected["grade"] and not expected["solution"] else "cell"
        if not found:
            report.problems.append(
                f"the {what} [{gid}] is missing; copy it back from the release notebook"
            )
            continue
        if len(found) > 1:
            report.problems.append(f"the cell [{gid}] appears {len(found)} times; keep one")
        cell = found[0]
        if cell.cell_type != expected["cell_type"]:
            report.problems.append(
                f"the cell [{gid}] became a {cell.cell_type} cell; it must stay "
                f"{expected['cell_type']}"
            )
        fixed = expected["locked"] or (expected["grade"] and not expected["solution"])
        if fixed and cell.source.strip() != expected["source"].strip():
            report.problems.append(
                f"the {what} [{gid}] was changed ({_first_difference(cell.source, expected)}); "
                "restore it from the release notebook: the grader uses the released version"
            )
        if expected["solution"] and cell.source.strip() == expected["source"].strip():
            message = f"exercise [{gid}] was not attempted (it is exactly as released)"
            (report.warnings if allow_unfinished else report.problems).append(message)


def _first_difference(source: str, expected: dict) -> str:
    got, want = source.strip().splitlines(), expected["source"].strip().splitlines()
    for number, (a, b) in enumerate(zip(got, want, strict=False), start=1):
        if a != b:
            return f"line {number} is {a.strip()!r}, released as {b.strip()!r}"
    return f"{len(got)} lines instead of {len(want)}"


def check_run_order(nb, report: Report) -> None:
    """Every code cell run, in order: what the file shows is one top-to-bottom run."""
    never, previous = [], None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip() or _is_submit_cell(cell):
            continue
        count = cell.get("execution_count")
        if count is None:
            never.append(str(index + 1))
            continue
        if previous is not None and count <= previous[1]:
            report.problems.append(
                f"{_label(index, cell)} ran as [{count}] after {previous[0]} ran as "
                f"[{previous[1]}]: cells were run out of order, so the saved outputs may not "
                f"be what the grader will see; {RESTART_HINT}"
            )
        previous = (_label(index, cell), count)
    if never:
        report.problems.append(
            f"cells {', '.join(never)} were never run (or the notebook was saved before they "
            f"ran); {RESTART_HINT}"
        )


def check_output_sizes(nb, path: Path, report: Report) -> None:
    size = path.stat().st_size
    if LARGE_NOTEBOOK_BYTES < size <= MAX_NOTEBOOK_BYTES:
        report.warnings.append(
            f"the file is {size / 2**20:.1f} MB; a finished notebook is well under 1 MB"
        )
    for index, cell in enumerate(nb.cells):
        outputs = len(json.dumps(cell.get("outputs", [])))
        if outputs > LARGE_OUTPUT_BYTES:
            report.warnings.append(
                f"{_label(index, cell)} has {outputs / 2**20:.1f} MB of output (printing a "
                "whole array or many plots?); clear it or print less"
            )


def _error(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            name, value = out.get("ename") or "an error", str(out.get("evalue") or "").strip()
            return f"{name}: {value.splitlines()[0][:200]}" if value else name
    return None


def one_line(error: BaseException) -> str:
    """An exception as one line a student can act on: a cell's error type and message
    (nbclient's CellExecutionError), else the message's first line, else the type's name."""
    if getattr(error, "ename", None):
        value = str(getattr(error, "evalue", "") or "").strip()
        return f"{error.ename}: {value.splitlines()[0][:200]}" if value else error.ename
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(error).__name__


def rerun(nb, folder: Path, timeout: int = CELL_TIMEOUT_S):
    """A copy of `nb` executed top to bottom in a fresh kernel started in `folder` (errors
    recorded in the outputs, not raised). Cells that submit are left out."""
    from nbclient import NotebookClient

    fresh = copy.deepcopy(nb)
    for cell in fresh.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            if _is_submit_cell(cell):
                cell.source = ""
    client = NotebookClient(
        fresh,
        timeout=timeout,
        allow_errors=True,
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    return fresh


def compare_runs(saved, fresh, report: Report, points: dict[str, float]) -> None:
    """Report cells whose outcome in a fresh run differs from the saved one, and failures."""
    for index, (before, after) in enumerate(zip(saved.cells, fresh.cells, strict=True)):
        if before.cell_type != "code" or _is_submit_cell(before):
            continue
        now, then = _error(after), _error(before)
        ran = before.get("execution_count") is not None
        gid = before.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if now and ran and not then:
            report.problems.append(
                f"{_label(index, before)} ran without error in your saved notebook but fails "
                f"in a fresh kernel with {now}. It depended on something run out of order, "
                f"changed or deleted since; {RESTART_HINT}"
            )
        elif now and not ran:
            report.problems.append(
                f"{_label(index, before)} was never run and fails in a fresh kernel: {now}"
            )
        elif now:
            cost = f" (worth {points[gid]:g} points)" if points.get(gid) else ""
            report.warnings.append(f"{_label(index, before)} fails{cost}: {now}")
        elif then and ran:
            report.warnings.append(
                f"{_label(index, before)} failed in your saved notebook ({then}) but passes "
                f"in a fresh kernel; {RESTART_HINT} to see what the grader will see"
            )
