"""One source for how long each notebook runs: the measurement in benchmarks/results/.

`benchmarks/notebooks.py --write` executes every solution notebook top to bottom (kernel start
included, medians of its runs) and writes TIMES. The release build (release.py) writes each
figure from there into the notebook's header ("the finished notebook runs in about N seconds
on a 2-core CPU") and into the README's table of notebooks and its footnote, so the three can
never disagree; `make check-release` fails while one does. A figure is the median rounded to
a whole second below 20 s and to 5 s above (a student's machine differs more than that).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from autograder.course import ASSIGNMENT, REPO_ROOT

TIMES = REPO_ROOT / "benchmarks" / "results" / "notebook_times.json"
HEADER_RE = re.compile(  # the sentence it writes, or an older hand-written one it replaces
    r"the\s+finished\s+notebook\s+(?:runs\s+in\s+about\s+\d+|ran\s+in\s+\d+\s+to\s+\d+)"
    r"\s+seconds(?:\s+on\s+an?\s+(?:shared\s+)?\d+-core\s+CPU"
    r"(?:\s+that\s+other\s+programs\s+were\s+using\s+at\s+the\s+same\s+time)?)?"
)
FOOTNOTE_RE = re.compile(
    r"on a \d+-core CPU machine, kernel start\s+included: the median of \d+ runs of "
    r"`benchmarks/notebooks.py` \(the whole sequence: \d+ s\)"
)


def measured(path: Path = TIMES) -> dict:
    """The measurement: {"seconds": {notebook file name: median}, "repeat", "cpus", "date"}."""
    data = json.loads(path.read_text())
    if not data.get("seconds"):
        raise ValueError(f"{path}: no notebook times")
    return data


def shown(seconds: float) -> int:
    """The figure a reader sees for a median of `seconds`."""
    if seconds < 20:
        return max(1, round(seconds))
    return 5 * round(seconds / 5)


def stamp_notebook(nb, name: str, data: dict) -> None:
    """Write the notebook's measured time into its header sentence (in place). Raises
    ValueError when the notebook was not measured or its header has no such sentence."""
    if name not in data["seconds"]:
        raise ValueError(f"{name}: not in {TIMES.name}: run benchmarks/notebooks.py --write")
    first = nb.cells[0]
    sentence = (
        f"the finished notebook runs in about {shown(data['seconds'][name])} seconds "
        f"on a {data['cpus']}-core CPU"
    )
    source, count = HEADER_RE.subn(sentence, first.source, count=1)
    if count != 1:
        raise ValueError(f"{name}: its first cell does not say how long it runs")
    first.source = source


def stamp_readme(text: str, data: dict) -> str:
    """The README with each notebook's row ending in its measured time, and the footnote's
    number of runs and total (the sum of the figures shown)."""
    lines = text.split("\n")
    total = 0
    for name, seconds in sorted(data["seconds"].items()):
        link = f"](notebooks/{ASSIGNMENT}/{name})"
        rows = [i for i, line in enumerate(lines) if line.startswith("|") and link in line]
        if len(rows) != 1:
            raise ValueError(f"README: expected one table row linking {name}, found {len(rows)}")
        cells = lines[rows[0]].rstrip().rstrip("|").rsplit("|", 1)
        lines[rows[0]] = f"{cells[0]}| {shown(seconds)} s |"
        total += shown(seconds)
    text = "\n".join(lines)
    footnote = (
        f"on a {data['cpus']}-core CPU machine, kernel start\nincluded: the median of "
        f"{data['repeat']} runs of `benchmarks/notebooks.py` (the whole sequence: {total} s)"
    )
    text, count = FOOTNOTE_RE.subn(footnote, text, count=1)
    if count != 1:
        raise ValueError("README: no footnote saying how the run times were measured")
    return text
