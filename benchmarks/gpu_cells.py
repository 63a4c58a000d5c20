"""Run a notebook's code cells in this Python process, as a Jupyter kernel would, without one.

Used by gpu_check.py on machines that have Python, PyTorch, NumPy and matplotlib but no
Jupyter, nbclient or TensorFlow (a stock GPU image). Each notebook runs in a fresh `__main__`
module, cell after cell; a cell that raises is recorded with its traceback and the next cell
runs anyway. What a kernel would do differently is done here explicitly and reported:

- IPython-only lines (`%magic`, `!shell`) are removed, only from cells that are not Python
  without them;
- TensorFlow and Keras cannot be imported (`block_tensorflow`). A statement that imports them,
  or an expression statement that uses them (`tf.get_logger().setLevel(...)`), is removed; any
  other cell that needs them, or needs a name that only a skipped cell defines, is skipped
  with the reason. Which cells need what is read from the code (symtable), not from names;
- the last expression of a cell is printed when it is not None (Jupyter displays it);
- matplotlib draws with the Agg backend, and every figure is closed after its cell.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import importlib.abc
import io
import json
import linecache
import re
import signal
import symtable
import sys
import time
import traceback
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

BLOCKED = ("tensorflow", "keras", "tf_keras")  # not on a stock PyTorch GPU image
_MAGIC = re.compile(r"^\s*[%!]")
_BUILTINS = set(dir(builtins))
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_HIDDEN = re.compile(r"^### BEGIN HIDDEN TESTS\n.*?^### END HIDDEN TESTS\n?", re.M | re.S)


class _Hiding(importlib.abc.MetaPathFinder):
    """A finder of sys.meta_path that no longer finds TensorFlow, Keras or tf_keras: they look
    absent (`find_spec` gives None, `import` raises ModuleNotFoundError), as on a machine
    without them. Package metadata (versions) is still read through the wrapped finder."""

    def __init__(self, finder) -> None:
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            return None
        find = getattr(self.finder, "find_spec", None)
        return find(name, path, target) if find else None

    def __getattr__(self, attribute):
        return getattr(self.finder, attribute)


def block_tensorflow() -> None:
    """Make TensorFlow and Keras unimportable in this process (idempotent). Raises
    RuntimeError when one of them was imported already, since that cannot be taken back."""
    loaded = [m for m in BLOCKED if m in sys.modules]
    if loaded:
        raise RuntimeError(f"already imported, cannot be blocked: {loaded}")
    sys.meta_path[:] = [f if isinstance(f, _Hiding) else _Hiding(f) for f in sys.meta_path]
    importlib.invalidate_caches()


@dataclass
class CellResult:
    """What happened to one code cell. status: "ran" (all of it), "trimmed" (all but the
    statements that need TensorFlow), "skipped" (nothing could run without it), "failed"."""

    index: int  # the cell's position in the notebook, markdown cells counted
    grade_id: str | None
    status: str
    seconds: float = 0.0
    stdout: str = ""
    error: str | None = None  # "TypeError: ...", for a failed cell
    traceback: str | None = None
    reason: str | None = None  # why the cell was skipped or changed
    removed: list[str] = field(default_factory=list)  # statements taken out of a cell that ran


@dataclass
class NotebookRun:
    """One notebook's cells, what each did, and the namespace they left behind."""

    name: str
    cells: list[CellResult]
    namespace: dict
    seconds: float
    warnings: list[str]

    def count(self, status: str) -> int:
        return sum(cell.status == status for cell in self.cells)

    @property
    def stdout(self) -> str:
        return "".join(cell.stdout for cell in self.cells)


# ------------------------------------------------------------------ reading the code


def code_cells(path: Path, hidden_tests: bool = True) -> list[tuple[int, str | None, str]]:
    """(index, grade_id, source) of each code cell of the notebook at `path`, read with json
    (nbformat is not needed). hidden_tests=False drops the hidden-test regions."""
    nb = json.loads(path.read_text())
    found = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        if not hidden_tests:
            source = _HIDDEN.sub("", source)
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        found.append((index, grade_id, source))
    return found


def parse_cell(source: str) -> tuple[ast.Module, list[str]]:
    """The cell as Python, and the IPython-only lines removed to make it so (only when the
    cell does not parse with them). Raises SyntaxError when it does not parse either way."""
    try:
        return ast.parse(source), []
    except SyntaxError:
        lines = source.splitlines(keepends=True)
        magics = [line.strip() for line in lines if _MAGIC.match(line)]
        if not magics:
            raise
        kept = ["\n" if _MAGIC.match(line) else line for line in lines]  # keep line numbers
        return ast.parse("".join(kept)), magics


def _scopes(table: symtable.SymbolTable):
    yield table
    for child in table.get_children():
        yield from _scopes(child)


def statement_names(stmt: ast.stmt) -> tuple[set[str], set[str]]:
    """(names one top-level statement reads from the notebook's namespace, names it binds
    there). Names local to its functions, classes and comprehensions are neither; a name the
    statement both binds and reads counts as bound (`x = x + 1` is the rare exception)."""
    top = symtable.symtable(ast.unparse(stmt), "<statement>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    needed = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    for scope in list(_scopes(top))[1:]:
        needed |= {s.get_name() for s in scope.get_symbols() if s.is_global() and s.is_referenced()}
    return needed - bound - _BUILTINS, bound


def blocked_import(stmt: ast.stmt) -> set[str] | None:
    """The names an `import tensorflow ...` (keras, tf_keras) binds, or None for another
    statement."""
    if isinstance(stmt, ast.Import) and any(a.name.split(".")[0] in BLOCKED for a in stmt.names):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names}
    if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").split(".")[0] in BLOCKED:
        return {a.asname or a.name for a in stmt.names}
    return None


@dataclass
class Plan:
    """How to run one cell: the code to run (None: nothing is left to run), the statements
    taken out, and why."""

    code: ast.Module | None
    removed: list[str]
    reason: str | None


def plan_cell(tree: ast.Module, source: str, unavailable: set[str]) -> Plan:
    """Take out of a cell, statement by statement, what cannot run without TensorFlow: its
    imports, and every top-level statement that reads a name that is `unavailable` (bound
    only by such imports or by statements taken out before, or built earlier in this cell
    and used by a statement taken out). Updates `unavailable`."""
    kept, removed, missing, built_here = [], [], set(), set()
    for stmt in tree.body:
        names = blocked_import(stmt)
        if names is not None:
            unavailable |= names
            missing |= names
            removed.append(stmt)
            continue
        reads, binds = statement_names(stmt)
        if reads & unavailable:
            missing |= reads & unavailable
            unavailable |= binds
            if not isinstance(stmt, _DEFINITIONS):  # a def runs nothing of what it reads
                # what this cell built and the removed statement would have changed (a dict
                # it fills) is incomplete: later statements must not read it either
                unavailable |= reads & built_here
            removed.append(stmt)
        else:
            unavailable -= binds
            if not isinstance(stmt, _DEFINITIONS):
                built_here |= binds
            kept.append(stmt)
    if not removed:
        return Plan(tree, [], None)
    text = [ast.get_source_segment(source, s) or ast.unparse(s) for s in removed]
    reason = f"needs {', '.join(sorted(missing))} (TensorFlow/Keras, or bound only by them)"
    return Plan(ast.Module(body=kept, type_ignores=[]) if kept else None, text, reason)


# ------------------------------------------------------------------ running it


class _Tee(io.StringIO):
    """Keeps what a cell prints, and passes it on to `echo` when given."""

    def __init__(self, echo=None) -> None:
        super().__init__()
        self.echo = echo

    def write(self, text: str) -> int:
        if self.echo is not None:
            self.echo.write(text)
        return super().write(text)


class CellTimeout(Exception):
    """A cell ran longer than the time allowed to one cell."""


def _on_alarm(signum, frame):
    raise CellTimeout("the cell ran past the time allowed to one cell (--cell-timeout)")


def _run_code(tree: ast.Module, filename: str, namespace: dict) -> None:
    """exec the cell; the value of a last bare expression is printed, as Jupyter shows it."""
    body = tree.body
    last = body[-1] if body and isinstance(body[-1], ast.Expr) else None
    head = ast.Module(body=body[:-1] if last else body, type_ignores=[])
    exec(compile(head, filename, "exec"), namespace)
    if last is not None:
        value = eval(compile(ast.Expression(body=last.value), filename, "eval"), namespace)
        if value is not None:
            print(repr(value))


def run_cell(
    index: int,
    grade_id: str | None,
    source: str,
    name: str,
    namespace: dict,
    unavailable: set[str],
    timeout: float | None = None,
    echo=None,
) -> CellResult:
    """Run one cell in `namespace`; never raises for what the cell does (KeyboardInterrupt
    aside): a failure is recorded in the result."""
    filename = f"<{name} cell {index}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    result = CellResult(index, grade_id, "ran")
    try:
        tree, magics = parse_cell(source)
    except SyntaxError as error:
        result.status, result.error = "failed", f"SyntaxError: {error}"
        return result
    plan = plan_cell(tree, source, unavailable)
    result.removed = magics + plan.removed
    result.reason = "; ".join(filter(None, ["IPython-only lines" if magics else None, plan.reason]))
    if plan.code is None:
        result.status = "skipped"
        return result
    if plan.removed:
        result.status = "trimmed"
    out = _Tee(echo)
    start = time.perf_counter()
    if timeout:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stdout(out):
            _run_code(plan.code, filename, namespace)
    except (Exception, SystemExit) as error:  # what a kernel reports and survives
        result.status = "failed"
        result.error = f"{type(error).__name__}: {error}".strip()
        frames = traceback.format_exception(type(error), error, error.__traceback__.tb_next)
        result.traceback = "".join(frames)
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
        result.seconds = time.perf_counter() - start
        result.stdout = out.getvalue()
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            plt.close("all")
    return result


def run_notebook(
    path: Path, hidden_tests: bool = True, cell_timeout: float | None = None, echo=None
) -> NotebookRun:
    """Run every code cell of the notebook at `path` in a fresh `__main__` module (put in
    sys.modules while it runs, as a kernel's is, so that pickling a class the notebook
    defines works). Warnings are recorded, once per message, not printed."""
    name = path.stem
    module = types.ModuleType("__main__")
    namespace = module.__dict__
    namespace["__builtins__"] = builtins
    saved_main = sys.modules["__main__"]
    sys.modules["__main__"] = module
    cells, unavailable = [], set()
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.filterwarnings("ignore", message=".*non-interactive.*")  # plt.show on Agg
            for index, grade_id, source in code_cells(path, hidden_tests):
                cells.append(
                    run_cell(
                        index, grade_id, source, name, namespace, unavailable, cell_timeout, echo
                    )
                )
    finally:
        sys.modules["__main__"] = saved_main
    seen = dict.fromkeys(f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught)
    return NotebookRun(name, cells, namespace, time.perf_counter() - start, list(seen))
