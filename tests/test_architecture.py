"""Does the tree keep the rules its layout promises (README, Architecture)? Read from the
sources, so that a new import that breaks a rule fails here, not in production."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from autograder.course import REPO_ROOT
from autograder.grading.judging import rules
from cs231n_utils import graded

PACKAGES = ("autograder", "cs231n_utils")
LONG_MODULES: set[str] = set()  # a module over 350 lines is named here, with the reason


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = modules()


def imports(name: str) -> set[str]:
    """Every module `name` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def reachable(name: str) -> set[str]:
    """The modules of this repository `name` imports, directly or through others."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        for other in imports(current):
            if other in MODULES and other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def in_package(names, package: str) -> set[str]:
    return {n for n in names if n == package or n.startswith(package + ".")}


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("autograder.authoring", "autograder.grading"), ("autograder.grading", "autograder.authoring"),
     ("autograder.nbgrader_course", "autograder.grading"),
     ("autograder.nbgrader_course", "autograder.authoring"), ("cs231n_utils", "autograder"),
     ("autograder.gradescope", "autograder.authoring"),
     ("autograder.grading", "autograder.gradescope"),
     ("autograder.nbgrader_course", "autograder.gradescope"),
     ("autograder.authoring", "autograder.gradescope")],
)  # fmt: skip
def test_packages_do_not_import_across_their_boundary(package, forbidden):
    """Do release building and grading stay apart, nbgrader's glue import neither, the
    Gradescope autograder build on grading alone (nothing below it importing it), and the
    students' helpers nothing of the instructors' code?"""
    for name in in_package(MODULES, package):
        assert not in_package(imports(name), forbidden), f"{name} imports {forbidden}"


def test_the_trusted_side_imports_nothing_that_runs_in_the_kernel():
    """Is the in-kernel module (cs231n_utils.graded) free of autograder imports, and does no
    autograder module import it?"""
    assert not in_package(imports("cs231n_utils.graded"), "autograder")
    for name in in_package(MODULES, "autograder"):
        assert "cs231n_utils.graded" not in reachable(name), name


@pytest.mark.parametrize(
    "exporter",
    ["autograder.results", "autograder.scores", "autograder.nbgrader_course.gradebook",
     "autograder.report", "autograder.exports", "autograder.similarity",
     "autograder.grading.reporting.feedback", "autograder.grading.reporting.autograded",
     "autograder.exports",
     "autograder.grading.reporting.outputs", "autograder.grading.inputs.layouts",
     "autograder.nbgrader_course.export", "autograder.gradescope.results"],
)  # fmt: skip
def test_exporters_do_not_import_the_kernel(exporter):
    """Does writing a CSV, a feedback page or formgrader's notebooks start no Jupyter client?"""
    closure = reachable(exporter) | {exporter}
    assert "autograder.grading.isolation.kernel" not in closure
    assert not [n for n in closure for i in imports(n) if i.split(".")[0] == "jupyter_client"]


def test_the_rules_are_one_table():
    """Do the kernel side (graded.RULES) and the judge (rules.RULES) name the same rules?"""
    assert set(graded.RULES) == set(rules.RULES)


def test_no_module_is_too_long():
    """Is every module at most 350 lines, but those named in LONG_MODULES with the reason?"""
    long = {n for n, p in MODULES.items() if len(p.read_text().splitlines()) > 350}
    assert long <= LONG_MODULES, sorted(long - LONG_MODULES)


def test_no_module_hides_length_behind_fmt_skip():
    """Does no module of autograder or cs231n_utils keep a statement out of the formatter with
    `# fmt: skip` (or `fmt: off`)? Packed onto few lines, such statements once hid a module's
    true length from the limit above."""
    marks = ("fmt: skip", "fmt: off")
    assert not [n for n, p in MODULES.items() if any(m in p.read_text() for m in marks)]


LAYERS = ["inputs", "judging", "isolation", "executors", "reporting"]  # of autograder.grading


def test_each_grading_package_imports_only_those_above_it():
    """Does each package of autograder.grading import only itself and the packages before it
    in LAYERS, and none of api, cli and config, which sit on top of them all?"""
    for rank, layer in enumerate(LAYERS):
        allowed = [f"autograder.grading.{above}" for above in LAYERS[: rank + 1]]
        for name in in_package(MODULES, f"autograder.grading.{layer}"):
            for other in in_package(imports(name), "autograder.grading"):
                assert any(in_package([other], p) for p in allowed), f"{name} imports {other}"


def test_every_grading_module_is_in_a_layer():
    """Is every module of autograder.grading in one of LAYERS' packages, but the three on top?"""
    top = {"autograder.grading", *(f"autograder.grading.{m}" for m in ("api", "cli", "config"))}
    layered = {n for layer in LAYERS for n in in_package(MODULES, f"autograder.grading.{layer}")}
    assert set(in_package(MODULES, "autograder.grading")) == top | layered
