"""similarity.csv and the report's similarity section: pairs of students whose own code in a
notebook is alike, a lead for a human to read, never a verdict.

What is compared: each student's answer cells (code cells whose nbgrader metadata says
`solution: true`) in the copies the grader keeps for hand grading,
OUT/autograded/<student>/dl_software/<notebook>.ipynb (grading.autograded writes them; they
outlive OUT/submissions, which holds only one run's unpacked input). Those copies carry the
release's nbgrader metadata on the student's answer cells (protected.restore_protected), so a
student cannot hide an answer, or pass a cell off as one, by editing its metadata; code a student
wrote in cells of their own is not compared. Notebooks a result marks missing or invalid have
no copy and are skipped. Starter code is not the student's: the lines of the release's cell
with the same grade_id are dropped, comments and blank lines carry no tokens, and fingerprints
found anywhere in the release's code, or held by many students (common idioms), do not count.

The method is Moss's (Schleimer, Wilkerson and Aiken, "Winnowing", SIGMOD 2003), written here
rather than taken from a package: it is short, needs no new dependency, and we decide which
text counts. Python's own tokenizer splits the code; every identifier becomes one symbol and
every literal one symbol of its kind, so renaming variables or changing constants, comments or
layout hides nothing. Hashes of K consecutive tokens are winnowed (the smallest of each
W consecutive hashes) into fingerprints. Students are indexed by fingerprint and only pairs
that share one are scored, so a class of hundreds costs about as much as its code.

Imports nothing that runs a kernel.
"""

from __future__ import annotations

import csv
import io
import json
import keyword
import re
import tokenize
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from autograder.course import RELEASE
from autograder.grading.reporting.autograded import autograded_path
from autograder.notebooks import grade_id, nbgrader_meta, read
from autograder.results import NotebookResult, Status
from cs231n_utils.files import atomic_write

THRESHOLD = 0.8  # pairs at or above this similarity are reported (--similarity-threshold)
K = 12  # tokens per hashed k-gram: a statement or two, longer than most idioms
W = 8  # winnowing window: any match of W + K - 1 tokens or more shares a fingerprint
MIN_FINGERPRINTS = 10  # fewer of one's own (about 50 tokens): too little code to judge
COMMON_FRACTION = 0.1  # a fingerprint more than this fraction of the class holds is an idiom
COMMON_FLOOR = 10  # ... but one held by at most this many students always counts (Moss's -m)
REPORT_PAIRS = 200  # report.html shows the most similar pairs; similarity.csv lists them all
FIELDS = ("notebook", "student_a", "student_b", "similarity", "shared", "cells")
_POWERS = np.array([pow(1_000_003, i, 2**64) for i in range(K - 1, -1, -1)], dtype=np.uint64)
_ROUGH = re.compile(r"'[^']*'|\"[^\"]*\"|[A-Za-z_]\w*|\d[\w.]*|\S")

Place = tuple[str, tuple[int, ...]]  # where a fingerprint is: grade_id, source lines (from 1)


@dataclass
class SharedCell:
    grade_id: str
    a: list[tuple[str, bool]]  # student_a's cell, line by line: (text, matches student_b)
    b: list[tuple[str, bool]]


@dataclass
class Pair:
    notebook: str
    student_a: str
    student_b: str
    similarity: float  # shared / min(fingerprints of a, of b): 1.0 when one holds the other
    shared: int  # fingerprints both hold
    cells: list[SharedCell]


def _symbol(kind: int, text: str) -> str | None:
    if kind == tokenize.NAME:
        return text if keyword.iskeyword(text) else "V"
    if kind == tokenize.NUMBER:
        return "N"
    if kind == tokenize.STRING:
        return "S"
    if kind == tokenize.OP:
        return text
    return None  # comments, newlines, indentation: layout, not code


@lru_cache(maxsize=4096)  # a class's untouched cells are the same text
def tokens(source: str) -> tuple[tuple[str, int], ...]:
    """The normalised tokens of `source` as (symbol, line number from 1). Source Python
    cannot tokenize (a half-written answer) is split roughly, line by line."""
    found, depth = [], 0  # depth: inside an f-string (Python 3.12 tokenizes its parts)
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            name = tokenize.tok_name[tok.type]
            if name == "FSTRING_START":
                depth += 1
                if depth == 1:
                    found.append(("S", tok.start[0]))
            elif name == "FSTRING_END":
                depth -= 1
            elif depth == 0 and (symbol := _symbol(tok.type, tok.string)) is not None:
                found.append((symbol, tok.start[0]))
    except (tokenize.TokenError, SyntaxError):
        found = []
        for number, line in enumerate(source.split("\n"), 1):
            for word in _ROUGH.findall(line.split("#")[0]):
                kind = tokenize.NAME if word[0].isalpha() or word[0] == "_" else tokenize.OP
                kind = tokenize.NUMBER if word[0].isdigit() else kind
                found.append((_symbol(tokenize.STRING if word[0] in "'\"" else kind, word), number))
    return tuple(found)


def kgrams(found: list[tuple[str, int]]) -> np.ndarray:
    """The hash of each run of K tokens (uint64), the same in every process: a polynomial in
    the crc32 of each symbol, wrapping modulo 2**64."""
    if len(found) < K:
        return np.zeros(0, dtype=np.uint64)
    codes = np.array([zlib.crc32(symbol.encode()) for symbol, _ in found], dtype=np.uint64)
    return sliding_window_view(codes, K) @ _POWERS


def winnow(hashes: np.ndarray) -> np.ndarray:
    """Positions of the fingerprints: in every window of W hashes the smallest, the rightmost
    on a tie (robust winnowing); one position for fewer than W hashes."""
    if len(hashes) <= W:
        return np.array([len(hashes) - 1 - int(np.argmin(hashes[::-1]))] if len(hashes) else [])
    rightmost = W - 1 - np.argmin(sliding_window_view(hashes, W)[:, ::-1], axis=1)
    return np.unique(rightmost + np.arange(len(hashes) - W + 1))


def starter_lines(release: dict) -> dict[str, set[str]]:
    """Per answer cell of the release, its non-blank lines, stripped."""
    return {
        grade_id(c): {line.strip() for line in _source(c).split("\n") if line.strip()}
        for c in release["cells"]
        if grade_id(c)
    }


def release_hashes(release: dict) -> set[int]:
    """Every k-gram hash of the release's code, answers' stubs and tests alike."""
    code = [_source(c) for c in release["cells"] if c["cell_type"] == "code"]
    return {digest for source in code for digest in kgrams(tokens(source)).tolist()}


def answers(notebook: dict) -> dict[str, str]:
    """The student's answer cells (code, nbgrader `solution: true`) by grade_id."""
    return {
        grade_id(c): _source(c)
        for c in notebook.get("cells", [])
        if c.get("cell_type") == "code" and nbgrader_meta(c).get("solution") and grade_id(c)
    }


def fingerprints(cells: dict[str, str], starter: dict[str, set[str]], release: set[int]):
    """{hash: [places]} of one student's own code in one notebook: starter lines dropped,
    hashes the release holds left out."""
    found: dict[int, list[Place]] = defaultdict(list)
    for gid, source in cells.items():
        stub = starter.get(gid, set())
        lines = source.split("\n")
        own = [(s, n) for s, n in tokens(source) if lines[n - 1].strip() not in stub]
        grams = kgrams(own)
        for position in winnow(grams).tolist():
            digest = int(grams[position])
            if digest not in release:
                where = tuple(sorted({n for _, n in own[position : position + K]}))
                found[digest].append((gid, where))
    return dict(found)


def compare(notebook: str, code: dict[str, dict[str, str]], release: dict, threshold: float):
    """The pairs of students at or above `threshold` in one notebook.
    `code` is {student: {grade_id: source}} (answers()); `release` the release notebook."""
    starter, known = starter_lines(release), release_hashes(release)
    prints = {s: fingerprints(cells, starter, known) for s, cells in code.items()}
    holders: dict[int, list[str]] = defaultdict(list)
    for student, found in prints.items():
        for digest in found:
            holders[digest].append(student)
    limit = max(COMMON_FLOOR, COMMON_FRACTION * len(prints))
    common = {digest for digest, who in holders.items() if len(who) > limit}
    size = {s: len(found.keys() - common) for s, found in prints.items()}
    shared: Counter = Counter()
    for digest, who in holders.items():
        if digest not in common:
            judged = sorted(s for s in who if size[s] >= MIN_FINGERPRINTS)
            shared.update(combinations(judged, 2))
    pairs = []
    for (a, b), count in shared.items():
        similarity = count / min(size[a], size[b])
        if similarity >= threshold:
            both = (prints[a].keys() & prints[b].keys()) - common
            cells = side_by_side(code[a], code[b], prints[a], prints[b], both)
            pairs.append(Pair(notebook, a, b, similarity, count, cells))
    return pairs


def side_by_side(cells_a, cells_b, prints_a, prints_b, both: set[int]) -> list[SharedCell]:
    """The cells where the pair shares fingerprints, both students' versions, the lines the
    shared fingerprints cover marked."""
    marked: dict[tuple[int, str], set[int]] = defaultdict(set)
    for side, prints in enumerate((prints_a, prints_b)):
        for digest in both:
            for gid, lines in prints[digest]:
                marked[side, gid].update(lines)
    gids = sorted({gid for _, gid in marked}, key=lambda g: [*cells_a, *cells_b].index(g))

    def lines(cells, side, gid):
        text = cells.get(gid, "").split("\n")
        return [(line, n in marked[side, gid]) for n, line in enumerate(text, 1)]

    return [SharedCell(g, lines(cells_a, 0, g), lines(cells_b, 1, g)) for g in gids]


def similar_pairs(results: list[NotebookResult], out: Path, threshold: float = THRESHOLD):
    """Every notebook's pairs at or above `threshold`, from the hand-grading copies in OUT of
    the students `results` holds; most similar first."""
    code: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    for r in results:
        path = autograded_path(out, r.student_id, r.notebook)
        if r.status in (Status.MISSING, Status.INVALID) or not path.is_file():
            continue
        try:  # json, not nbformat.read: the grader wrote the file, and validating is slow
            code[r.notebook][r.student_id] = answers(json.loads(path.read_text()))
        except (OSError, ValueError, AttributeError, TypeError):
            continue
    pairs = []
    for notebook in sorted(code):
        release = read(RELEASE / f"{notebook}.ipynb")
        pairs += compare(notebook, code[notebook], release, threshold)
    return sorted(pairs, key=lambda p: (-p.similarity, -p.shared, p.notebook, p.student_a))


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def parse_threshold(text: str) -> float:
    """--similarity-threshold's value: a number above 0 and at most 1, else ValueError."""
    value = float(text)
    if not 0 < value <= 1:
        raise ValueError(f"{text} is not above 0 and at most 1")
    return value


def write_similar(results: list[NotebookResult], out: Path, threshold: float) -> list[Pair]:
    """OUT/similarity.csv, one row per pair (FIELDS; `cells` the grade ids joined by ';'),
    from the copies in OUT; its pairs returned, for the report."""
    pairs = similar_pairs(results, out, threshold)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FIELDS)
    for p in pairs:
        cells = ";".join(c.grade_id for c in p.cells)
        writer.writerow(
            [p.notebook, p.student_a, p.student_b, f"{p.similarity:.3f}", p.shared, cells]
        )
    atomic_write(out / "similarity.csv", buffer.getvalue())
    return pairs
