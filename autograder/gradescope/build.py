"""Write the Gradescope autograder zip (`make gradescope`).

    python -m autograder.gradescope.build [--notebooks NAME ...] [--out PATH]

Gradescope's autograder specification (https://gradescope-autograders.readthedocs.io/en/latest/
specs/) asks for a zip with `setup.sh` (installs the dependencies when the image is built) and
an executable `run_autograder` at its root; the zip is unpacked into /autograder/source, the
student's files arrive in /autograder/submission and the score is read from
/autograder/results/results.json. Beside those two scripts the zip holds what the grader needs
to run from /autograder/source: the packages, pyproject.toml (for the pinned install), the
solution and release notebooks of the notebooks graded, and the data files they load. No
tests, no build outputs.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import zipfile
from pathlib import Path

from autograder.course import RELEASE, REPO_ROOT, SOLUTIONS, notebook_names

HERE = Path(__file__).resolve().parent
SCRIPTS = ("setup.sh", "run_autograder")  # at the zip's root, executable
PACKAGES = ("autograder", "cs231n_utils")
TOP_FILES = ("pyproject.toml", "README.md")  # pip reads README.md: pyproject names it
DATA = REPO_ROOT / "data"
DATA_ALWAYS = ("SHA256SUMS",)  # cs231n_utils.datasets checks every file it loads against it
SKIPPED = {"__pycache__", ".ipynb_checkpoints", "mutations"}  # mutations: for the test suite
DEFAULT_OUT = REPO_ROOT / "build" / "gradescope" / "autograder.zip"


def loaders() -> dict[str, set[str]]:
    """load_* function of cs231n_utils.datasets -> the data files named in its body."""
    tree = ast.parse((REPO_ROOT / "cs231n_utils" / "datasets.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("load_"):
            found[node.name] = {
                c.value
                for c in ast.walk(node)
                if isinstance(c, ast.Constant) and isinstance(c.value, str)
                and (DATA / c.value).is_file()
            }  # fmt: skip
    return found


def data_files(notebooks: list[str]) -> list[str]:
    """The data files the notebooks load: those a loader they call reads, or they name."""
    sources = "\n".join((SOLUTIONS / f"{n}.ipynb").read_text() for n in notebooks)
    needed = set(DATA_ALWAYS)
    for loader, files in loaders().items():
        if re.search(rf"\b{loader}\b", sources):
            needed |= files
    needed |= {p.name for p in DATA.glob("*.npz") if p.name in sources}
    return sorted(needed)


def members(notebooks: list[str]) -> list[tuple[Path, str]]:
    """(file, name in the zip) for everything the autograder needs."""
    found = [(HERE / script, script) for script in SCRIPTS]
    found += [(REPO_ROOT / name, name) for name in TOP_FILES]
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*")):
            parts = path.relative_to(REPO_ROOT).parts
            if path.is_file() and not SKIPPED & set(parts) and path.suffix != ".pyc":
                found.append((path, "/".join(parts)))
    for folder in (SOLUTIONS, RELEASE):
        for notebook in notebooks:
            path = folder / f"{notebook}.ipynb"
            found.append((path, path.relative_to(REPO_ROOT).as_posix()))
    found += [(DATA / name, f"data/{name}") for name in data_files(notebooks)]
    return found


def build(notebooks: list[str], out: Path) -> Path:
    """Write the zip to `out` (its folder created); return `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, name in members(notebooks):
            info = zipfile.ZipInfo.from_file(path, name)
            mode = 0o755 if name in SCRIPTS else 0o644
            info.external_attr = (0o100000 | mode) << 16  # a regular file and its permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    partial.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    everything = [Path(n).stem for n in notebook_names()]
    parser.add_argument(
        "--notebooks", nargs="+", metavar="NAME", default=everything,
        help="the notebooks to grade (file stems; default: all)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the zip to write")
    args = parser.parse_args(argv)
    unknown = set(args.notebooks) - set(everything)
    if unknown:
        parser.error(f"no such notebook(s): {', '.join(sorted(unknown))}")
    notebooks = [n for n in everything if n in args.notebooks]
    out = build(notebooks, args.out.resolve())
    print(f"{out}: {len(notebooks)} notebook(s); upload it in Gradescope (Configure Autograder)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
