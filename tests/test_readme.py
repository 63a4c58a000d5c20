"""Does the README name only what exists: make targets, command-line flags, files of the
repository and the files cs231n-grade writes? Read from the README, the Makefile, the
commands' own --help and the tree, so a rename that forgets the README fails here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import REPO_ROOT
from autograder.grading.reporting.outputs import SHARED

README = (REPO_ROOT / "README.md").read_text()
TOP = ("autograder/", "benchmarks/", "cs231n_utils/", "data/", "tests/", "solutions/",
       "notebooks/", "config/", ".ci/")  # fmt: skip
COMMANDS = {"cs231n-grade": "autograder.grading.cli", "cs231n-submit": "cs231n_utils.submit"}


def quoted() -> list[str]:
    """Every `...` span of the README, code blocks' lines included."""
    spans = re.findall(r"`([^`\n]+)`", README)
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README, re.DOTALL)
    return spans + [line for block in blocks for line in block.splitlines()]


def make_targets() -> set[str]:
    makefile = (REPO_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))


def options(command: str) -> set[str]:
    """The long options a command's --help lists."""
    module = COMMANDS[command]
    shown = subprocess.run(
        [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())",
         "--help"], capture_output=True, text=True, check=True, cwd=REPO_ROOT,
    ).stdout  # fmt: skip
    return set(re.findall(r"(--[a-z][a-z-]*)", shown))


def test_every_make_target_the_readme_names_exists():
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)", README))
    assert named, "the README names no make target: the pattern is broken"
    assert named - make_targets() == set()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_flag_the_readme_gives_a_command_exists(command):
    """Each --flag on a line (or in a quoted span) that names the command is one of its own."""
    lines = [s for s in quoted() + README.splitlines() if command in s]
    given = {f for line in lines for f in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", line)}
    others = {"--index-url", "--help"}  # pip's, argparse's
    assert given, f"the README gives {command} no flag: the pattern is broken"
    assert given - others - options(command) == set()


def repository_paths() -> set[str]:
    found = set()
    for span in quoted():
        for word in span.split():
            word = word.strip("(),;:'\"")
            if word.startswith(TOP) and not word.startswith(("tests/test_attacks_*",)):
                found.add(word)
    return found


def test_every_repository_path_the_readme_names_exists():
    """A path under one of the repository's folders (placeholders <x> and NAME as wildcards,
    a glob where the README writes one) matches at least one file or folder."""
    paths = repository_paths()
    assert len(paths) > 20, "the README names few paths: the pattern is broken"
    missing = []
    for path in sorted(paths):
        pattern = re.sub(r"<[^>]+>|\bNAME\b|…", "*", path).rstrip("/")
        if not any(REPO_ROOT.glob(pattern)):
            missing.append(path)
    assert missing == []


def test_every_python_file_the_readme_names_exists_somewhere():
    """The layout section lists modules by their bare names: each is a file of the tree."""
    names = set(re.findall(r"\b([a-z_0-9]+\.py)\b", README))
    assert len(names) > 10
    tracked = subprocess.run(
        ["git", "ls-files"], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    ).stdout.split()
    have = {Path(p).name for p in tracked} | {p.name for p in REPO_ROOT.rglob("*.py")}
    assert names - have == set()


def test_the_outputs_table_lists_every_file_cs231n_grade_writes():
    """The README's table of outputs has a row for each file and folder of OUT the grader
    writes (outputs.SHARED), and no row for one it does not."""
    rows = re.findall(r"^\| `([^`]+)` \|", README, re.MULTILINE)
    table = {re.sub(r"/.*", "", row) for row in rows if not row.startswith(("sandbox", "uid"))}
    written = set(SHARED)
    assert written - table == set(), "written but not in the README's table"
    listed = {row for row in table if row in written or "." in row}
    assert listed - written == set(), "in the README's table but not written"
