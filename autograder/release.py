"""Generate the student release (notebooks/) and the sample submissions from solutions/.

    python -m autograder.release           # regenerate notebooks/ and the samples
    python -m autograder.release --check   # exit 1 and list differences, change nothing

nbgrader's generate_assignment does the work in a scratch course folder (so no gradebook or
stray files land in the repository); the result is then copied over the committed files.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from autograder.config import write_config_file
from autograder.course import ASSIGNMENT, RELEASE, SAMPLES, SOLUTIONS
from autograder.nbgrader_cli import run_nbgrader
from autograder.samples import build_samples

EXPECTED_SCORES = "expected_scores.csv"  # written by hand; not generated


def generate_release(dest: Path) -> None:
    """Run nbgrader generate_assignment on solutions/ and put the release notebooks in dest."""
    with tempfile.TemporaryDirectory(prefix="cs231n-release-") as scratch:
        course = Path(scratch)
        shutil.copytree(SOLUTIONS, course / "source" / ASSIGNMENT)
        write_config_file(course)
        run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
        dest.mkdir(parents=True, exist_ok=True)
        for path in sorted((course / "release" / ASSIGNMENT).glob("*.ipynb")):
            shutil.copyfile(path, dest / path.name)


def build(dest: Path) -> None:
    """Write the release to dest/notebooks and the samples to dest/samples."""
    generate_release(dest / "notebooks")
    build_samples(dest / "notebooks", SOLUTIONS, dest / "samples")


def _tree(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    }


def differences(built: Path) -> list[str]:
    """Files that differ between a fresh build in `built` and the committed ones."""
    found = []
    for generated, committed in ((built / "notebooks", RELEASE), (built / "samples", SAMPLES)):
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
    for generated, committed in ((built / "notebooks", RELEASE), (built / "samples", SAMPLES)):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report differences")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cs231n-build-") as scratch:
        built = Path(scratch)
        build(built)
        if args.check:
            found = differences(built)
            for line in found:
                print(line)
            if found:
                print("notebooks/ or the samples are out of date: run `make release`.")
            return 1 if found else 0
        changed = sync(built)
    for line in changed:
        print(f"updated {line.split(': ', 1)[1]}")
    print(f"release up to date: {RELEASE.relative_to(RELEASE.parents[1])}/ and samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
