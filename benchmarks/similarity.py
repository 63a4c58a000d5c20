"""How long similarity.csv takes for a large class: synthetic students, every notebook.

    python benchmarks/similarity.py [--students 300] [--copies 5] [--lines 8]

Writes the grader's hand-grading copies (OUT/autograded/...) of STUDENTS students for each of
the course's notebooks, each answer cell filled with LINES lines of random code (random
expressions, names and constants; 8 by default, about the size of the sample solutions' own
code, 5,000 tokens per student) and a 100 kB image output, as a plotted cell would hold; COPIES
students hand in another's notebooks renamed. Then times similarity.write_similar, reading the
copies included, and says which pairs it found.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat

from autograder import similarity
from autograder.course import RELEASE, notebook_names
from autograder.grading.reporting.autograded import autograded_path
from autograder.notebooks import grade_id, is_answer, read
from autograder.results import NotebookResult, Status

BLOCKS = ("for {i} in range({e}):", "if {e}:", "while {e}:", "with {e} as {i}:")
FUNCTIONS = ("np.maximum", "np.mean", "np.sum", "np.exp", "torch.relu", "len", "max", "f", "g")
OPERATORS = ("+", "-", "*", "/", "@", "**", "<", ">", "==", "and", "or")


def expression(rng: random.Random, names: list[str], depth: int = 0) -> str:
    """A random expression: names, numbers, calls, indexing, attributes and operators."""
    kind = rng.randint(0, 2 if depth > 2 else 6)
    if kind == 0:
        return rng.choice(names)
    if kind == 1:
        return str(rng.randint(0, 9))
    if kind == 2:
        return f"{rng.choice(names)}.{rng.choice(('T', 'shape', 'grad', 'data'))}"
    if kind == 3:
        args = ", ".join(expression(rng, names, depth + 1) for _ in range(rng.randint(1, 3)))
        return f"{rng.choice(FUNCTIONS)}({args})"
    if kind == 4:
        return f"{rng.choice(names)}[{expression(rng, names, depth + 1)}]"
    left, right = expression(rng, names, depth + 1), expression(rng, names, depth + 1)
    return f"({left} {rng.choice(OPERATORS)} {right})"


def random_code(rng: random.Random, lines: int) -> str:
    """`lines` lines of random statements, some in blocks."""
    names = [f"{rng.choice('abcdefghxyzw')}{rng.randint(0, 99)}" for _ in range(8)]
    out, depth = [], 0
    for _ in range(lines):
        e, i = expression(rng, names), rng.choice(names)
        if depth < 2 and rng.random() < 0.2:
            out.append("    " * depth + rng.choice(BLOCKS).format(e=e, i=i))
            depth += 1
            continue
        target = rng.choice((i, f"{i}[{rng.choice(names)}]", f"{i}, {rng.choice(names)}"))
        out.append("    " * depth + f"{target} {rng.choice(('=', '+=', '-='))} {e}")
        if depth and rng.random() < 0.3:
            depth -= 1
    return "\n".join(out)


def renamed(source: str, rng: random.Random) -> str:
    words = {w for w in source.replace("(", " ").split() if w[:1].isalpha() and w[-1].isdigit()}
    for word in sorted(words, key=len, reverse=True):
        source = source.replace(word, f"q{rng.randint(100, 999)}")
    return source


def build(out: Path, students: int, copies: int, lines: int) -> list[NotebookResult]:
    rng = random.Random(0)
    image = "iVBORw0KGgo" + "A" * 100_000
    results = []
    for name in notebook_names():
        stem = Path(name).stem
        release = read(RELEASE / name)
        written: dict[str, nbformat.NotebookNode] = {}
        for s in [*range(copies, students), *range(copies)]:  # the originals first
            student = f"s{s:04d}"
            nb = copy.deepcopy(release)
            if s < copies:  # s0000 copies the notebook of the student half a class on, ...
                nb = copy.deepcopy(written[f"s{s + students // 2:04d}"])
            for cell in nb.cells:
                if cell.cell_type == "code" and is_answer(cell) and grade_id(cell):
                    if s < copies:
                        cell.source = renamed(cell.source, rng)
                    else:
                        code = random_code(rng, rng.randint(lines // 2, lines * 3 // 2))
                        cell.source += "\n" + textwrap.indent(code, "    ")
                        output = nbformat.v4.new_output("display_data", data={"image/png": image})
                        cell.outputs = [output]
            written[student] = nb
        for student in sorted(written):
            path = autograded_path(out, student, stem)
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(written[student], path)
            results.append(NotebookResult(student, stem, Status.OK, "key"))
    return results


def written_code(results: list[NotebookResult], out: Path) -> list[str]:
    """Every answer cell's source, as similarity reads it."""
    code = []
    for r in results:
        path = autograded_path(out, r.student_id, r.notebook)
        code += similarity.answers(json.loads(path.read_text())).values()
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--lines", type=int, default=8, help="lines per answer, on average")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        results = build(out, args.students, args.copies, args.lines)
        tokens = sum(len(similarity.tokens(c)) for c in written_code(results, out))
        start, cpu = time.perf_counter(), time.process_time()
        pairs = similarity.write_similar(results, out, similarity.THRESHOLD)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    found = sorted({(p.student_a, p.student_b) for p in pairs})
    print(f"{args.students} students x {len(notebook_names())} notebooks, "
          f"{tokens // args.students} tokens of answers per student: {seconds:.1f} s "
          f"({cpu:.1f} s of CPU), "
          f"{len(pairs)} pairs at or above {similarity.THRESHOLD} in {len(found)} student "
          f"pairs: {found}")  # fmt: skip


if __name__ == "__main__":
    main()
