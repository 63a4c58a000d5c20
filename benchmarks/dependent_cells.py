"""How much grading time running only the cells that the graded tests depend on would save.

    .venv/bin/python benchmarks/dependent_cells.py [--notebooks 00 03 ...] [--no-run]
                                                   [--no-reduced] [--out DIR]

Much of a notebook's run is demonstration (timings, plots, training shown to students) that no
graded answer needs. This script finds, per solution notebook, the cells a grader would have to
run for the graded test cells to see the same names, and measures what the others cost.

Static part (no kernel; `--no-run` prints only this). Each code cell is parsed with `ast` (lines
starting with % or ! removed first; a cell that still does not parse is kept, "unanalysable")
and scoped with CPython's own symbol table (`symtable`):
- a cell defines every name it binds at top level (assignment, augmented assignment, def,
  class, import, for and with targets, walrus), and names its functions declare `global`;
- a cell reads, now, the names its top-level code loads before it has surely bound them itself
  (in order, through if/for/while/with/try), and, later, every global name its functions,
  lambdas and methods load: those are read when called, by any later kept cell;
- kept: the setup cells (every code cell before the first "## " heading: the locked setup
  cell, and in 03 the locked `data` cell) and every graded test cell (nbgrader grade=True,
  visible check and hidden part together). Then, to a fixed point: every earlier cell that
  binds a name a kept cell reads (all earlier definitions, not only the latest), and every cell
  before the last graded test that has a hazard: it calls a global random number generator
  (np.random.*, random.*, torch.manual_seed and torch's samplers without generator=,
  tf.random.*, keras.utils.set_random_seed, cs231n_utils' seed_everything; NumPy's and
  torch's independent generator objects are exempt), writes a file, uses exec/eval/globals or
  a star import, or may change in place an object that a later kept cell reads (a subscript
  or attribute assignment, an in-place method, a call whose result is discarded, a call of a
  stateful object, or the object passed to a function of the notebook's own).
The same closure without the hazard rule ("names only") is reported beside it.

Timed part: each notebook runs top to bottom once with nbclient in a fresh python3 kernel
from its folder, with the grader's kernel environment (one thread per pool, MPLBACKEND=agg);
each cell's seconds are read from its execution metadata (iopub.execute_input to
shell.execute_reply), the kernel start is the time from the client's start to the first
cell's. A plan's seconds are the kernel start plus its cells' seconds in that run; the setup
cells' seconds (imports, seeding) are reported apart, as what no plan saves. Then, unless
--no-reduced, each plan's cells alone run in a fresh kernel: a smoke test (any error, and the
graded cells whose printed text differs from the full run's) and a measured time. Results:
DIR (default benchmarks/results/) dependent_cells_<date>.md and .json; the Markdown is
printed too.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import platform
import symtable
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from autograder.course import SOLUTIONS  # noqa: E402
from autograder.grading.isolation.sandbox import ONE_THREAD  # noqa: E402
from autograder.notebooks import HIDDEN_MARKERS, grade_id, is_test, read, strip_markers  # noqa: E402

COMPREHENSIONS = ("listcomp", "setcomp", "dictcomp", "genexpr")  # symtable's names: run now
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)

# Global random number generators, by full dotted name after the notebook's import aliases.
RNG_PREFIXES = ("numpy.random.", "random.", "torch.random.", "torch.cuda.manual_seed",
                "torch.nn.init.", "tensorflow.random.", "tensorflow.compat.v1.random.",
                "keras.random.")  # fmt: skip
RNG_CALLS = {"torch.manual_seed", "torch.seed", "torch.set_rng_state",
             "keras.utils.set_random_seed", "tensorflow.compat.v1.set_random_seed",
             "cs231n_utils.seeding.seed_everything"}  # fmt: skip
# Objects with their own state: creating one neither reads nor changes the global generators.
INDEPENDENT_GENERATORS = {"numpy.random.default_rng", "numpy.random.Generator",
                          "numpy.random.RandomState", "numpy.random.SeedSequence",
                          "numpy.random.PCG64", "random.Random"}  # fmt: skip
TORCH_SAMPLERS = {"torch.rand", "torch.randn", "torch.randint", "torch.randperm", "torch.normal",
                  "torch.bernoulli", "torch.multinomial", "torch.poisson", "torch.rand_like",
                  "torch.randn_like", "torch.randint_like"}  # fmt: skip
RANDOM_METHODS = {"normal_", "uniform_", "random_", "bernoulli_", "exponential_",
                  "geometric_", "cauchy_", "log_normal_"}  # fmt: skip

WRITE_CALLS = {"numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt",
               "torch.save", "torch.onnx.export", "torch.export.save", "json.dump",
               "pickle.dump", "tensorflow.saved_model.save", "tensorflow.io.write_file",
               "tensorflow.summary.create_file_writer", "keras.callbacks.TensorBoard",
               "keras.callbacks.ModelCheckpoint", "torch.utils.tensorboard.SummaryWriter",
               "os.makedirs", "os.mkdir", "os.remove", "os.unlink", "os.rename", "os.replace",
               "os.rmdir"}  # fmt: skip
WRITE_PREFIXES = ("shutil.",)
WRITE_METHODS = {"savefig", "save", "save_weights", "write_text", "write_bytes", "tofile",
                 "to_csv", "mkdir", "touch", "unlink", "write"}  # fmt: skip

# Methods that change their object (besides torch's trailing-underscore convention).
IN_PLACE_METHODS = {"append", "extend", "insert", "pop", "popitem", "remove", "clear",
                    "update", "add", "discard", "setdefault", "sort", "reverse", "step",
                    "zero_grad", "train", "eval", "backward", "load_state_dict", "apply", "to",
                    "cuda", "cpu", "double", "float", "half", "add_module",
                    "register_buffer", "register_parameter", "register_forward_hook", "fit",
                    "compile", "build", "set_weights", "assign", "assign_add", "assign_sub",
                    "set_state", "manual_seed", "reset_parameters", "close", "flush"}  # fmt: skip
# Builtins that change none of their arguments.
PURE_BUILTINS = {"print", "len", "repr", "str", "int", "float", "bool", "list", "tuple", "dict",
                 "set", "frozenset", "sorted", "sum", "min", "max", "abs", "round", "range",
                 "enumerate", "zip", "isinstance", "issubclass", "type", "id", "hash", "format",
                 "any", "all", "hasattr", "getattr", "callable", "divmod", "pow"}  # fmt: skip
DYNAMIC = {"exec", "eval", "globals"}


# ----------------------------------------------------------------------------- static part


def python_source(cell) -> str:
    """A code cell's source as plain Python: hidden-test marker lines and IPython magics
    (lines starting with % or !) removed."""
    source = strip_markers(cell.source, HIDDEN_MARKERS)
    return "\n".join(
        line for line in source.split("\n") if not line.lstrip().startswith(("%", "!"))
    )


def scan(node: ast.AST) -> tuple[set[str], set[str], set[str]]:
    """What `node` (a statement or an expression, run as a module of its own) does with global
    names, by CPython's symbol table: (read now, read later, bound). Read later: loaded inside a
    function, lambda or method, so read when it is called. Bound: at top level, or declared
    `global` and assigned inside a function."""
    statement = node if isinstance(node, ast.stmt | ast.Module) else ast.Expr(node)
    module = statement if isinstance(statement, ast.Module) else ast.Module([statement], [])
    top = symtable.symtable(ast.unparse(module), "<cell>", "exec")
    now, later = set(), set()
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    pending = [(top, False)]
    while pending:
        table, deferred = pending.pop()
        for symbol in table.get_symbols():
            if symbol.is_global() and (symbol.is_referenced() or symbol.is_declared_global()):
                (later if deferred else now).add(symbol.get_name())  # `global g; g += 1` reads g
            if table is not top and symbol.is_declared_global() and symbol.is_assigned():
                bound.add(symbol.get_name())
        for child in table.get_children():
            runs_later = child.get_type() == "function" and child.get_name() not in COMPREHENSIONS
            pending.append((child, deferred or runs_later))
    return now, later, bound


def stored_names(target: ast.AST) -> set[str]:
    """The plain names an assignment target binds (`a, b[i] = ...` binds a only)."""
    return {
        n.id for n in ast.walk(target) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


class Reads:
    """The global names a cell reads: now, those its top-level code loads before the cell has
    surely bound them itself; later, those its functions load when called."""

    def __init__(self) -> None:
        self.now: set[str] = set()
        self.later: set[str] = set()

    def expression(self, node: ast.AST, bound: set[str]) -> set[str]:
        """Record what `node` reads; return the names it binds at top level."""
        now, later, binds = scan(node)
        self.now |= now - bound
        self.later |= later
        return binds

    def target(self, target: ast.AST, bound: set[str]) -> set[str]:
        """Record what an assignment target reads (`x[i]` reads x and i); return what it binds."""
        for node in ast.walk(target):
            if isinstance(node, ast.Subscript | ast.Attribute):
                self.expression(node.value, bound)
                if isinstance(node, ast.Subscript):
                    self.expression(node.slice, bound)
        return stored_names(target)

    def block(self, body: list[ast.stmt], bound: set[str]) -> set[str]:
        """Walk statements in order; return the names surely bound after them."""
        bound = set(bound)
        for statement in body:
            bound |= self.statement(statement, bound)
        return bound

    def statement(self, node: ast.stmt, bound: set[str]) -> set[str]:
        """Record what one statement reads; return the names it surely binds. A loop's body may
        not run and a try's may stop anywhere, so neither binds surely."""
        if isinstance(node, ast.If):
            self.expression(node.test, bound)
            return self.block(node.body, bound) & self.block(node.orelse, bound)
        if isinstance(node, ast.For | ast.AsyncFor):
            self.expression(node.iter, bound)
            self.block(node.body, bound | self.target(node.target, bound))
            self.block(node.orelse, bound)
            return set()
        if isinstance(node, ast.While):
            self.expression(node.test, bound)
            self.block(node.body, bound)
            self.block(node.orelse, bound)
            return set()
        if isinstance(node, ast.With | ast.AsyncWith):
            inner = set(bound)
            for item in node.items:
                self.expression(item.context_expr, inner)
                if item.optional_vars is not None:
                    inner |= self.target(item.optional_vars, inner)
            return self.block(node.body, inner)
        if isinstance(node, ast.Try | ast.TryStar):
            after = self.block(node.body, bound)
            for handler in node.handlers:
                if handler.type is not None:
                    self.expression(handler.type, bound)
                self.block(handler.body, bound | ({handler.name} if handler.name else set()))
            self.block(node.orelse, after)
            return self.block(node.finalbody, bound)
        if isinstance(node, ast.Match):
            self.expression(node, bound)
            return set()
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            if node.target.id not in bound:
                self.now.add(node.target.id)  # x += 1 reads x (symtable does not say so)
        return self.expression(node, bound)


def dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """`np.random.seed` as "numpy.random.seed" (the root replaced by what the notebook
    imported under its name; keras from tensorflow counted as keras), or None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    name = ".".join([aliases.get(node.id, node.id), *reversed(parts)])
    return name.removeprefix("tensorflow.") if name.startswith("tensorflow.keras.") else name


def root(node: ast.AST) -> str | None:
    """The variable at the bottom of `a.b[0].c` (a), or None."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Starred):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def own_locals(scope: ast.AST) -> set[str]:
    """The names local to a function, lambda or comprehension (its parameters and targets),
    not counting those it declares global or nonlocal."""
    names, outside, todo = set(), set(), list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            outside.update(node.names)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        if isinstance(node, SCOPES):
            if hasattr(node, "name"):
                names.add(node.name)
        else:
            todo.extend(ast.iter_child_nodes(node))
    return names - outside


@dataclass
class Hazards:
    """What a cell does that its names do not show."""

    rng: list[str] = field(default_factory=list)  # calls of global random number generators
    writes: list[str] = field(default_factory=list)  # calls that write files
    dynamic: list[str] = field(default_factory=list)  # exec, eval, globals, star imports
    mutates: dict[str, str] = field(default_factory=dict)  # global name -> how it may change


class HazardFinder(ast.NodeVisitor):
    """Finds a cell's hazards. `kinds` says how the notebook binds each name: a name bound only
    by imports is a module or a library function, assumed to change none of its arguments
    unless torch's trailing underscore says so."""

    def __init__(self, aliases: dict[str, str], kinds: dict[str, set[str]]) -> None:
        self.aliases, self.kinds = aliases, kinds
        self.found = Hazards()
        self.local_scopes: list[set[str]] = []
        self.discarded: set[int] = set()  # ids of calls whose result is thrown away

    def is_global_value(self, name: str | None) -> bool:
        """A global name of the notebook's own that is neither a module nor a function."""
        return (
            name is not None
            and not any(name in scope for scope in self.local_scopes)
            and bool(self.kinds.get(name, set()) - {"import", "def"})
        )

    def mutate(self, node: ast.AST, how: str) -> None:
        """Note that the object at the root of `node` may change."""
        name = root(node)
        if self.is_global_value(name):
            self.found.mutates.setdefault(name, how)

    def visit_scope(self, node: ast.AST) -> None:
        """Visit a function, lambda or comprehension with its own names shadowing globals."""
        self.local_scopes.append(own_locals(node))
        self.generic_visit(node)
        self.local_scopes.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = visit_scope
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_scope

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if any(alias.name == "*" for alias in node.names):
            self.found.dynamic.append(f"from {node.module} import *")

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Call):
            self.discarded.add(id(node.value))
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete) -> None:
        targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, ast.Subscript | ast.Attribute):
                    self.mutate(part, "item or attribute assigned")
        self.generic_visit(node)

    visit_AugAssign = visit_AnnAssign = visit_Delete = visit_Assign

    def visit_Call(self, node: ast.Call) -> None:
        name = dotted(node.func, self.aliases) or ""
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        keywords = {k.arg for k in node.keywords}
        self.check_rng(name, method, keywords)
        self.check_writes(node, name, method)
        if name in DYNAMIC and name not in self.kinds:
            self.found.dynamic.append(f"{name}()")
        self.check_mutation(node, name, method)
        self.generic_visit(node)

    def check_rng(self, name: str, method: str, keywords: set[str | None]) -> None:
        """Calls that draw from, or reseed, a global random number generator."""
        if name in INDEPENDENT_GENERATORS:
            return
        global_draw = (name in TORCH_SAMPLERS or method in RANDOM_METHODS) and (
            "generator" not in keywords
        )
        if name in RNG_CALLS or name.startswith(RNG_PREFIXES) or global_draw:
            self.found.rng.append(name or method)

    def check_writes(self, node: ast.Call, name: str, method: str) -> None:
        """Calls that write, move or remove files."""
        if name == "open" and "open" not in self.kinds:
            modes = [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "mode")]
            if any(isinstance(m, ast.Constant) and set(str(m.value)) & set("wax+") for m in modes):
                self.found.writes.append("open(..., write mode)")
        elif name in WRITE_CALLS or name.startswith(WRITE_PREFIXES) or method in WRITE_METHODS:
            self.found.writes.append(name or method)

    def check_mutation(self, node: ast.Call, name: str, method: str) -> None:
        """Calls that may change a global object in place: a method that changes its object
        (by name, or called for its effect alone), a call of a stateful object (a module's
        forward may update batch-norm statistics, a Keras layer builds on its first call), and
        the objects passed to a function or class of the notebook's own (a student's function
        may change its arguments) or to a library function named in place (`nn.init.zeros_`)."""
        func = node.func
        in_place = method.endswith("_") and not method.startswith("_")
        if method and (in_place or method in IN_PLACE_METHODS or id(node) in self.discarded):
            self.mutate(func.value, f".{method}()")
        if isinstance(func, ast.Name):
            self.mutate(func, "called")
        own = isinstance(func, ast.Name) and "def" in self.kinds.get(func.id, set())
        last = name.rsplit(".", 1)[-1]
        library = self.kinds.get(root(func)) == {"import"}
        if own or (library and last.endswith("_") and not last.startswith("_")):
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                self.mutate(argument, f"passed to {ast.unparse(func)}()")


@dataclass
class CellFacts:
    """One code cell, as the plan sees it."""

    index: int  # in the notebook's cells, markdown included
    grade_id: str | None
    test: bool
    analysable: bool = True
    defines: set[str] = field(default_factory=set)
    now: set[str] = field(default_factory=set)
    later: set[str] = field(default_factory=set)
    hazards: Hazards = field(default_factory=Hazards)


def module_alias(node: ast.AST, aliases: dict[str, str]) -> tuple[ast.Name, str] | None:
    """For `tf1 = tf.compat.v1` (a name given to part of an imported module): the target and
    what it stands for ("tensorflow.compat.v1"); else None."""
    if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
        return None
    target, base = node.targets[0], node.value
    while isinstance(base, ast.Attribute):
        base = base.value
    if isinstance(target, ast.Name) and isinstance(base, ast.Name) and base.id in aliases:
        if isinstance(node.value, ast.Attribute):
            return target, dotted(node.value, aliases)
    return None


def import_aliases(trees: list[ast.Module]) -> dict[str, str]:
    """Each name the notebook binds by an import (or to part of an imported module), and the
    dotted name it stands for."""
    aliases = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    aliases[local] = alias.name if alias.asname else local
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for tree in trees:
        for node in tree.body:
            if found := module_alias(node, aliases):
                aliases[found[0].id] = found[1]
    return aliases


def binding_kinds(trees: list[ast.Module], aliases: dict[str, str]) -> dict[str, set[str]]:
    """How each name is bound anywhere in the notebook: "import" (by an import, or to part of
    an imported module), "def" (def or class) or "value" (anything else; function locals
    included, which only makes more names values)."""
    kinds: dict[str, set[str]] = {}
    for tree in trees:
        renamed = {id(found[0]) for n in tree.body if (found := module_alias(n, aliases))}
        for node in ast.walk(tree):
            if isinstance(node, ast.alias):
                kinds.setdefault((node.asname or node.name).split(".")[0], set()).add("import")
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                kinds.setdefault(node.name, set()).add("def")
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
                kinds.setdefault(node.id, set()).add("import" if id(node) in renamed else "value")
    return kinds


def analyse(nb) -> list[CellFacts]:
    """The facts of every code cell of `nb`."""
    facts, trees = [], {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        facts.append(CellFacts(index, grade_id(cell), is_test(cell)))
        try:
            trees[index] = ast.parse(python_source(cell))
        except SyntaxError:
            facts[-1].analysable = False
    aliases = import_aliases(list(trees.values()))
    kinds = binding_kinds(list(trees.values()), aliases)
    for fact in facts:
        tree = trees.get(fact.index)
        if tree is None:
            continue
        reads = Reads()
        reads.block(tree.body, set())
        fact.now, fact.later = reads.now, reads.later
        fact.defines = scan(tree)[2]
        finder = HazardFinder(aliases, kinds)
        finder.visit(tree)
        fact.hazards = finder.found
    return facts


def setup_cells(nb) -> set[int]:
    """The code cells before the notebook's first section ("## ") heading."""
    kept = set()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("## "):
            break
        if cell.cell_type == "code":
            kept.add(index)
    return kept


def hazard_reason(fact: CellFacts, readers: dict[str, int]) -> str | None:
    """Why a hazard forces `fact` in, given the last kept cell that reads each name."""
    found = fact.hazards
    if not fact.analysable:
        return "unanalysable: does not parse"
    if found.dynamic:
        return f"dynamic: {found.dynamic[0]}"
    if found.rng:
        return f"rng: {found.rng[0]}"
    if found.writes:
        return f"writes: {found.writes[0]}"
    changed = sorted(n for n in found.mutates if readers.get(n, -1) > fact.index)
    if changed:
        return "mutation: " + "; ".join(f"{n} ({found.mutates[n]})" for n in changed)
    return None


def plan(facts: list[CellFacts], setup: set[int], hazards: bool) -> dict[int, str]:
    """The cells a grader would run, each with why: setup, graded test, the names it defines
    that a later kept cell reads, or (with `hazards`) the hazard that forces it in."""
    tests = [f.index for f in facts if f.test]
    if not tests:
        return {i: "setup" for i in setup}
    last_test = max(tests)
    why = {i: "setup" for i in setup} | {i: "graded test" for i in tests}
    changed = True
    while changed:
        changed = False
        readers: dict[str, int] = {}  # name -> the last kept cell that reads it
        for fact in facts:
            if fact.index in why:
                for name in fact.now:
                    readers[name] = max(readers.get(name, -1), fact.index)
                for name in fact.later:  # read when called: by any kept cell up to the last test
                    readers[name] = max(readers.get(name, -1), last_test)
        for fact in facts:
            if fact.index in why or fact.index > last_test:
                continue
            names = sorted(n for n in fact.defines if readers.get(n, -1) > fact.index)
            reason = f"defines: {', '.join(names)}" if names else None
            if reason is None and hazards:
                reason = hazard_reason(fact, readers)
            if reason:
                why[fact.index] = reason
                changed = True
    return dict(sorted(why.items()))


# ------------------------------------------------------------------------------ timed part


def seconds_between(start: str, end: str) -> float:
    """Seconds from one ISO timestamp to another."""
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def printed(cell) -> str:
    """What a cell printed and displayed as text, and the errors it raised."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "".join(parts)


def first_difference(full: str, alone: str, width: int = 120) -> list[str]:
    """The first line where two printed texts differ, from each (cut to `width`)."""
    pairs = zip(full.splitlines() + [""], alone.splitlines() + [""], strict=False)
    first = next(((a, b) for a, b in pairs if a != b), ("", ""))
    return [line[:width] for line in first]


def execute(nb, folder: Path, indices: list[int]) -> dict:
    """Run the code cells `indices` of `nb` in a fresh python3 kernel from `folder`; return the
    kernel start, each cell's seconds, printed text and error, and the wall time."""
    run = copy.deepcopy(nb)
    run.cells = [run.cells[i] for i in indices]
    client = NotebookClient(
        run,
        timeout=900,
        kernel_name="python3",
        record_timing=True,
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    started = datetime.now(UTC).isoformat()
    wall = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - wall
    cells, first = {}, None
    for index, cell in zip(indices, run.cells, strict=True):
        timing = cell.metadata.get("execution", {})
        begin, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        first = first or begin
        errors = [o.ename for o in cell.get("outputs", []) if o.output_type == "error"]
        cells[index] = {
            "seconds": seconds_between(begin, end) if begin and end else 0.0,
            "printed": printed(cell),
            "error": errors[0] if errors else None,
        }
    return {
        "kernel_start_s": seconds_between(started, first) if first else None,
        "wall_s": wall,
        "cells": cells,
    }


def timings(nb, folder: Path, facts: list[CellFacts], plans: dict, reduced: bool) -> dict:
    """Run `nb` whole; the seconds of each plan (name -> its cells) as a share of that run;
    then, with `reduced`, each plan's cells alone: measured seconds, errors, and the graded
    cells whose printed output differs from the full run's."""
    full = execute(nb, folder, [f.index for f in facts])
    cell_s = {i: c["seconds"] for i, c in full["cells"].items()}
    start = full["kernel_start_s"] or 0.0
    all_s = start + sum(cell_s.values())
    setup = [f.index for f in facts if plans["needed"].get(f.index) == "setup"]
    result = {
        "kernel_start_s": round(start, 2),
        "seconds_all": round(all_s, 2),
        "setup_seconds": round(sum(cell_s[i] for i in setup), 2),
        "full_run_errors": {i: c["error"] for i, c in full["cells"].items() if c["error"]},
        "cell_seconds": {i: round(s, 3) for i, s in cell_s.items()},
        "plans": {},
    }
    tests = [f.index for f in facts if f.test]
    for name, cells in plans.items():
        kept_s = start + sum(cell_s[i] for i in cells)
        estimate = {
            "seconds": round(kept_s, 2),
            "saving_s": round(all_s - kept_s, 2),
            "saving_percent": round(100 * (all_s - kept_s) / all_s, 1),
        }
        if reduced:
            alone = execute(nb, folder, sorted(cells))
            measured = (alone["kernel_start_s"] or 0.0) + sum(
                c["seconds"] for c in alone["cells"].values()
            )
            estimate["reduced_run"] = {
                "seconds": round(measured, 2),
                "errors": {i: c["error"] for i, c in alone["cells"].items() if c["error"]},
                "graded_cells_printing_otherwise": {
                    i: first_difference(full["cells"][i]["printed"], alone["cells"][i]["printed"])
                    for i in tests
                    if alone["cells"][i]["printed"] != full["cells"][i]["printed"]
                },
            }
        result["plans"][name] = estimate
    return result


# -------------------------------------------------------------------------------- the report


def notebook_report(path: Path, run: bool, reduced: bool) -> dict:
    """The static plans of one notebook and, with `run`, their timings."""
    nb = read(path)
    facts = analyse(nb)
    setup = setup_cells(nb)
    kept, names_only = plan(facts, setup, hazards=True), plan(facts, setup, hazards=False)
    report = {
        "code_cells": len(facts),
        "graded_tests": sum(f.test for f in facts),
        "setup_cells": sorted(setup),
        "needed": {str(i): why for i, why in kept.items()},
        "needed_names_only": sorted(names_only),
        "forced_by_hazards": {str(i): why for i, why in kept.items() if i not in names_only},
        "grade_ids": {str(f.index): f.grade_id for f in facts if f.grade_id},
    }
    if run:
        plans = {"needed": kept, "names_only": names_only}
        report["timing"] = timings(nb, path.parent, facts, plans, reduced)
    return report


def hazard_summary(report: dict) -> str:
    """The cells hazards forced in, by kind ("rng 3, mutation 1"), and the cells only those
    need ("+2 they need")."""
    counts: dict[str, int] = {}
    for why in report["forced_by_hazards"].values():
        kind = why.split(":")[0]
        counts[kind] = counts.get(kind, 0) + 1
    needed_by_them = counts.pop("defines", 0)
    text = ", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none"
    return f"{text}, +{needed_by_them} they need" if needed_by_them else text


def total_saving(report: dict, plan_name: str) -> tuple[float, float, float] | None:
    """Seconds of all cells, seconds of the plan's cells, and the saving in %, over every
    timed notebook; None when nothing ran."""
    timed = [nb["timing"] for nb in report["notebooks"].values() if "timing" in nb]
    if not timed:
        return None
    all_s = sum(t["seconds_all"] for t in timed)
    kept_s = sum(t["plans"][plan_name]["seconds"] for t in timed)
    return all_s, kept_s, 100 * (all_s - kept_s) / all_s


def reduced_cells(estimate: dict) -> str:
    """A reduced run, for the table: "s, errors, graded cells printing otherwise"."""
    run = estimate.get("reduced_run")
    if run is None:
        return "- | - | -"
    differing = ", ".join(map(str, run["graded_cells_printing_otherwise"])) or "none"
    return f"{run['seconds']} | {len(run['errors'])} | {differing}"


def markdown(report: dict) -> str:
    """The report as Markdown: the table, the hazards, both plans' runs, and the caveats."""
    host = report["machine"]
    lines = [
        f"# Running only the cells graded tests depend on, {report['date']}",
        "",
        f"`benchmarks/dependent_cells.py` on {host['platform']}, os.cpu_count() "
        f"{host['cpu_count']} (load average {host['load_average_before']} before, "
        f"{host.get('load_average_after', '-')} after); each notebook run once, in a fresh "
        f"python3 kernel with the grader's environment (one thread per pool, MPLBACKEND=agg). "
        f"The whole script took {report['script_seconds']:.0f} s.",
        "",
        "Cells are code cells. Needed: the setup cells, the graded tests, every earlier cell "
        "that binds a name a needed cell reads (to a fixed point), and the cells a hazard "
        "forces in (before the last graded test). Seconds: the kernel start (paid by both "
        "plans) plus the cells' seconds in the full run; saving % is of seconds all.",
        "",
        "| notebook | cells total | cells needed | hazards | seconds all | seconds needed "
        "| saving % |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, nb in report["notebooks"].items():
        t = nb.get("timing")
        seconds = (
            f"{t['seconds_all']} | {t['plans']['needed']['seconds']} "
            f"| {t['plans']['needed']['saving_percent']}"
            if t
            else "- | - | -"
        )
        lines.append(
            f"| {name} | {nb['code_cells']} | {len(nb['needed'])} | {hazard_summary(nb)} "
            f"| {seconds} |"
        )
    total = total_saving(report, "needed")
    if total:
        lines.append(f"| **total** | | | | {total[0]:.1f} | {total[1]:.1f} | **{total[2]:.1f}** |")
    lines += ["", "## Hazards that forced cells in", ""]
    for name, nb in report["notebooks"].items():
        for index, why in nb["forced_by_hazards"].items():
            lines.append(f"- {name} cell {index}: {why}")
    timed = {name: nb for name, nb in report["notebooks"].items() if "timing" in nb}
    if timed:
        lines += plans_section(timed, total_saving(report, "names_only"))
    lines += ["", "## What this does not show", "", NOT_SHOWN, ""]
    return "\n".join(lines)


def plans_section(timed: dict, names_total: tuple[float, float, float]) -> list[str]:
    """The Markdown lines comparing the two plans, estimated and run alone, and what the graded
    cells printed otherwise when run alone."""
    lines = [
        "",
        "## Both plans, estimated and run alone",
        "",
        "Names only: the same closure without the hazard rule (what names alone would keep). "
        "Setup s: the setup cells' seconds (imports, seeding, the hardware report), which no "
        "plan saves. Run alone: the plan's cells in a fresh kernel, measured (kernel start "
        "included; one run, so a busy moment shows), with the cells that raised and the graded "
        "cells whose printed text differs from the full run's (listed below the table).",
        "",
        "| notebook | kernel start s | setup s | needed: run alone s | errors | differing "
        "| names only: cells | saving % | run alone s | errors | differing |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    measured = {"needed": 0.0, "names_only": 0.0}
    differences = []
    for name, nb in timed.items():
        t = nb["timing"]
        names = t["plans"]["names_only"]
        lines.append(
            f"| {name} | {t['kernel_start_s']} | {t['setup_seconds']} "
            f"| {reduced_cells(t['plans']['needed'])} | {len(nb['needed_names_only'])} "
            f"| {names['saving_percent']} | {reduced_cells(names)} |"
        )
        for plan_name, estimate in t["plans"].items():
            run = estimate.get("reduced_run", {})
            measured[plan_name] += run.get("seconds", 0.0)
            for cell, (full, alone) in run.get("graded_cells_printing_otherwise", {}).items():
                differences += [
                    f"- {name} cell {cell}, {plan_name.replace('_', ' ')} plan: "
                    f"full run `{full}`; alone `{alone}`"
                ]
    all_s, kept_s, saving = names_total
    lines += ["", f"Names only, in total: {all_s:.1f} s -> {kept_s:.1f} s, saving {saving:.1f} %."]
    if measured["needed"]:
        lines[-1] += (
            f" Run alone, in total: needed {measured['needed']:.1f} s, names only "
            f"{measured['names_only']:.1f} s."
        )
    if differences:
        lines += ["", "First differing line of each graded cell that printed otherwise:", ""]
        lines += differences
    return lines


NOT_SHOWN = (
    "A static closure does not prove identical scores. It is computed on the solutions, while "
    "a student's notebook has its own cells and names (a helper defined in a cell the "
    "solution uses only for a demo, an extra cell), so a grader would have to analyse each "
    "submission; and the runs alone above show only that the solutions still pass. Before "
    "building it, every sample submission, mutant and adversarial case would have to be "
    "graded with both plans and the scores and feedback compared, on the grader's machines. "
    "The hazards are what make it unsafe, and ast sees only some of them: demo cells that "
    "draw from the global generators (np.random, torch, tf, keras) move every later unseeded "
    "draw, and building a model (nn.Linear, Keras layers), dropout and a shuffling DataLoader "
    "draw without a visible call; other hidden global state moves too (Keras numbers its "
    "layers' names across the session); a demo that trains a model in place, changes it "
    "through an alias or through an optimizer holding its parameters, or updates batch-norm "
    "statistics changes what a later test reads; files a demo writes or removes can be read "
    "by a later cell; and a kept cell may take longer alone (a library imported or a cache "
    "warmed by a dropped demo is paid by a kept cell instead). The rules here keep every "
    "such cell they can see before the last graded test, which is why the hazard plan saves "
    "less than names alone would. Seconds all is the kernel start and the cells only: the "
    "grader's own work per notebook (sandbox, probes, judging) is not in it, so the share of "
    "a whole grading run saved is smaller than the percentages here."
)


def machine() -> dict:
    """This machine, for the record."""
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "load_average_before": round(os.getloadavg()[0], 2),
    }


def resolve(name: str, parser: argparse.ArgumentParser) -> Path:
    """The solution notebook called `name` ("08", "08_convnets" or "08_convnets.ipynb")."""
    stem = name.removesuffix(".ipynb")
    found = sorted(p for p in SOLUTIONS.glob("*.ipynb") if stem in (p.stem, p.stem.split("_")[0]))
    if len(found) != 1:
        known = ", ".join(p.stem for p in sorted(SOLUTIONS.glob("*.ipynb")))
        parser.error(f"no single notebook {name!r} in {SOLUTIONS} (there are: {known})")
    return found[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="+", help="names or number prefixes; default: all")
    parser.add_argument("--no-run", action="store_true", help="only the static plan: no kernel")
    parser.add_argument(
        "--no-reduced", action="store_true", help="do not run the needed cells alone afterwards"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    paths = (
        [resolve(n, parser) for n in args.notebooks]
        if args.notebooks
        else sorted(SOLUTIONS.glob("*.ipynb"))
    )
    os.environ.update(ONE_THREAD, MPLBACKEND="agg", CS231N_DATA=str(REPO / "data"))  # as graded

    began = time.perf_counter()
    report = {"date": datetime.now(UTC).date().isoformat(), "machine": machine(), "notebooks": {}}
    for path in paths:
        print(f"{path.stem} ...", file=sys.stderr, flush=True)
        nb = notebook_report(path, run=not args.no_run, reduced=not args.no_reduced)
        report["notebooks"][path.stem] = nb
        print(f"  needed {len(nb['needed'])} of {nb['code_cells']} code cells; forced by "
              f"hazards: {nb['forced_by_hazards'] or 'none'}", file=sys.stderr)  # fmt: skip
    report["machine"]["load_average_after"] = round(os.getloadavg()[0], 2)
    report["script_seconds"] = round(time.perf_counter() - began, 1)
    text = markdown(report)
    if not args.no_run:
        stem = args.out / f"dependent_cells_{report['date']}"
        args.out.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
        stem.with_suffix(".md").write_text(text)
        print(f"written: {stem}.md and .json", file=sys.stderr)
    print(text)


if __name__ == "__main__":
    main()
