"""Which question is judged how: the README's table, read from the solutions' hidden tests.

    python -m autograder.authoring.judging     # print the table

Every `graded.answer(...)` call in a hidden test names the rule the grader judges that answer
by (cs231n_utils/graded.py, autograder/grading/judging/rules.py). This module reads those calls from
the solution notebooks with `ast` (no kernel runs) and writes one row per graded question:
its points and the rules its answers are judged by. `make release` writes the table into the
README between the JUDGING markers, and `make check-release` fails when it is stale, so the
threat model's list of what decides each question cannot drift from the tests themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

from autograder.course import SOLUTIONS
from autograder.notebooks import grade_id, hidden_part, is_test, nbgrader_meta, read

BEGIN, END = "<!-- judging table: begin (make release) -->", "<!-- judging table: end -->"
DEFAULT_RULE = "close"  # graded.answer's default


def rules_of(source: str) -> list[str]:
    """The rules named by the graded.answer calls of a hidden test, in order, each once.

    A rule given by anything but a string literal (or a choice between two) is reported as
    "?" (the table then shows that a human must read the test)."""
    calls: list[tuple[int, int, int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "answer"
        ):
            continue
        given = node.args[2] if len(node.args) > 2 else None
        for keyword in node.keywords:
            if keyword.arg == "rule":
                given = keyword.value
        choices = [given.body, given.orelse] if isinstance(given, ast.IfExp) else [given]
        for order, choice in enumerate(choices):  # `"equal" if frozen else "close"`: both
            if choice is None:
                rule = DEFAULT_RULE
            elif isinstance(choice, ast.Constant) and isinstance(choice.value, str):
                rule = choice.value
            else:
                rule = "?"
            calls.append((node.lineno, node.col_offset, order, rule))
    return list(dict.fromkeys(rule for *_, rule in sorted(calls)))


def rows(folder: Path = SOLUTIONS) -> list[tuple[str, str, float, list[str]]]:
    """(notebook stem, grade_id, points, rules) for every autograded test cell."""
    table = []
    for path in sorted(folder.glob("*.ipynb")):
        for cell in read(path).cells:
            if is_test(cell):
                points = float(nbgrader_meta(cell).get("points", 0))
                table.append(
                    (path.stem, grade_id(cell), points, rules_of(hidden_part(cell.source)))
                )
    return table


def table(folder: Path = SOLUTIONS) -> str:
    """The Markdown table of every graded question and the rules that judge it."""
    lines = ["| notebook | question | points | judged by the rules |", "|---|---|---|---|"]
    for notebook, question, points, rules in rows(folder):
        judged = ", ".join(f"`{rule}`" for rule in rules) or "(no hidden answers)"
        lines.append(f"| {notebook[:2]} | `{question}` | {points:g} | {judged} |")
    return "\n".join(lines)


def stamp_readme(text: str, folder: Path = SOLUTIONS) -> str:
    """The README with the table between the markers replaced by the current one."""
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ValueError(f"README: expected the markers {BEGIN!r} and {END!r} once each")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{table(folder)}\n{END}{tail}"


if __name__ == "__main__":
    print(table())
