"""Generate the student release (notebooks/) and the sample submissions from solutions/.

    python -m autograder.authoring.release           # regenerate notebooks/ and the samples
    python -m autograder.authoring.release --check   # exit 1 and list differences, change nothing

nbgrader's generate_assignment does the work in a scratch course folder (so no gradebook or
stray files land in the repository); the result is then copied over the committed files.
Before that, the Colab badges and setup blocks are written from course.REPOSITORY into
solutions/ and the README (autograder/authoring/colab.py), with each notebook's measured run
time (autograder/authoring/run_times.py), and afterwards the release's
nbgrader cells are listed in cs231n_utils/release_cells.json, which cs231n-submit compares students'
notebooks with (students edit the release notebooks in place, so those cannot serve).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from autograder.authoring import colab, judging, run_times
from autograder.authoring.samples import build_samples
from autograder.course import ASSIGNMENT, RELEASE, REPO_ROOT, SAMPLES, SOLUTIONS
from autograder.nbgrader_course import folder
from autograder.notebooks import grade_id, nbgrader_meta, read

EXPECTED_SCORES = "expected_scores.csv"  # written by hand; not generated
README = REPO_ROOT / "README.md"
MANIFEST = REPO_ROOT / "cs231n_utils" / "release_cells.json"


def stamp_solutions(dest: Path) -> None:
    """Copy solutions/ to dest with the Colab badge and setup block, and the measured run
    time (run_times.py), written into each."""
    dest.mkdir(parents=True, exist_ok=True)
    times = run_times.measured()
    for path in sorted(SOLUTIONS.glob("*.ipynb")):
        nb = read(path)
        colab.stamp_notebook(nb, path.name)
        run_times.stamp_notebook(nb, path.name, times)
        nbformat.write(nb, dest / path.name)


def release_cells(release_dir: Path) -> dict:
    """Every nbgrader cell of every release notebook, in order: its grade_id, type, flags,
    points and source (a test cell's visible part, a solution cell's stub)."""
    notebooks = {}
    for path in sorted(release_dir.glob("*.ipynb")):
        cells = []
        for cell in read(path).cells:
            meta = nbgrader_meta(cell)
            if grade_id(cell) is None:
                continue
            cells.append(
                {
                    "grade_id": grade_id(cell),
                    "cell_type": cell.cell_type,
                    "locked": bool(meta.get("locked")),
                    "grade": bool(meta.get("grade")),
                    "solution": bool(meta.get("solution")),
                    "points": meta.get("points", 0),
                    "source": cell.source,
                }
            )
        notebooks[path.name] = cells
    return {"assignment": ASSIGNMENT, "notebooks": notebooks}


def generate_release(dest: Path, source: Path = SOLUTIONS) -> None:
    """Run nbgrader generate_assignment on `source` (solutions/ by default) and put the
    release notebooks in dest."""
    with tempfile.TemporaryDirectory(prefix="cs231n-release-") as scratch:
        course = Path(scratch)
        folder.prepare(course, source)
        dest.mkdir(parents=True, exist_ok=True)
        for path in sorted((course / "release" / ASSIGNMENT).glob("*.ipynb")):
            shutil.copyfile(path, dest / path.name)


def build(dest: Path) -> None:
    """Write the stamped solutions to dest/solutions, the release to dest/notebooks, the
    samples to dest/samples, the README to dest/README.md and the release's cell list to
    dest/release_cells.json."""
    stamp_solutions(dest / "solutions")
    generate_release(dest / "notebooks", dest / "solutions")
    build_samples(dest / "notebooks", dest / "solutions", dest / "samples")
    names = sorted(p.name for p in (dest / "notebooks").glob("*.ipynb"))
    readme = colab.stamp_readme(README.read_text(), names)
    readme = run_times.stamp_readme(readme, run_times.measured())
    (dest / README.name).write_text(judging.stamp_readme(readme, dest / "solutions"))
    cells = json.dumps(release_cells(dest / "notebooks"), indent=1, ensure_ascii=False)
    (dest / MANIFEST.name).write_text(cells + "\n")


def _pairs(built: Path) -> list[tuple[Path, Path]]:
    """(generated, committed) folders of notebooks."""
    return [
        (built / "solutions", SOLUTIONS),
        (built / "notebooks", RELEASE),
        (built / "samples", SAMPLES),
    ]


def _files(built: Path) -> list[tuple[Path, Path]]:
    """(generated, committed) single files."""
    return [(built / README.name, README), (built / MANIFEST.name, MANIFEST)]


def _tree(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    }


def differences(built: Path) -> list[str]:
    """Files that differ between a fresh build in `built` and the committed ones."""
    found = []
    for generated, committed in _files(built):
        if not committed.exists():
            found.append(f"missing: {committed}")
        elif not filecmp.cmp(generated, committed, shallow=False):
            found.append(f"out of date: {committed}")
    for generated, committed in _pairs(built):
        ours, theirs = _tree(generated), _tree(committed) if committed.exists() else set()
        for name in sorted(ours | theirs):
            a, b = generated / name, committed / name
            if name not in theirs:
                found.append(f"missing: {b}")
            elif name not in ours:
                found.append(f"stale (no longer generated): {b}")
            elif not filecmp.cmp(a, b, shallow=False):
                found.append(f"out of date: {b}")
    return found


def sync(built: Path) -> list[str]:
    """Copy a build over the committed files; return what changed."""
    changed = differences(built)
    for generated, committed in _files(built):
        if not committed.exists() or not filecmp.cmp(generated, committed, shallow=False):
            shutil.copyfile(generated, committed)
    for generated, committed in _pairs(built):
        keep = _tree(generated)
        for name in _tree(committed) if committed.exists() else set():
            if name not in keep:
                (committed / name).unlink()
        for name in keep:
            target = committed / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists() or not filecmp.cmp(generated / name, target, shallow=False):
                shutil.copyfile(generated / name, target)
    return changed


STALE = "the release is out of date: run `make release` and commit the result."


def out_of_date() -> list[str]:
    """What a fresh build from solutions/ would change in the committed release, the samples
    and the cell list (empty when they are up to date); changes nothing."""
    with tempfile.TemporaryDirectory(prefix="cs231n-build-") as scratch:
        build(Path(scratch))
        return differences(Path(scratch))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report differences")
    args = parser.parse_args(argv)
    if args.check:
        found = out_of_date()
        print("\n".join([*found, STALE] if found else []))
        return 1 if found else 0
    with tempfile.TemporaryDirectory(prefix="cs231n-build-") as scratch:
        built = Path(scratch)
        build(built)
        changed = sync(built)
    for line in changed:
        print(f"updated {line.split(': ', 1)[1]}")
    print(
        f"release up to date: {RELEASE.relative_to(REPO_ROOT)}/, the samples, the Colab "
        f"badges and setup blocks, and {MANIFEST.relative_to(REPO_ROOT)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
