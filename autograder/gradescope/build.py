"""Write the Gradescope autograder zip (`make gradescope`).

    python -m autograder.gradescope.build [--notebooks NAME ...] [--out PATH]
        [--visibility after_due_date|after_published|visible|hidden]

Gradescope's autograder specification (https://gradescope-autograders.readthedocs.io/en/latest/
specs/) asks for a zip with `setup.sh` (installs the dependencies when the image is built) and
an executable `run_autograder` at its root; the zip is unpacked into /autograder/source, the
student's files arrive in /autograder/submission and the score is read from
/autograder/results/results.json. Beside those two scripts the zip holds what the grader needs
to run from /autograder/source: the packages, pyproject.toml (for the pinned install), the
release notebooks of the notebooks graded, the graders' copies of their solution notebooks
(every solution region and model answer emptied, the hidden tests kept: what the grader runs
as probes), the data files they load, and references.json: the solution's answers to the
hidden tests (autograder/grading/executors/shipped.py). No solution: the references are
computed here, where the solutions are, by running each solution notebook twice in the sandbox as
cs231n-grade does, and the container only reads them (`cs231n-grade --references`). No tests,
no build outputs. gradescope.json holds the package's settings: when students see their results.
It refuses to build (exit 1) while the committed release is out of date with solutions/:
students would work on notebooks that the package does not grade.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat

from autograder.course import RELEASE, REPO_ROOT, SOLUTIONS, notebook_names
from autograder.gradescope import results
from autograder.grading.executors import shipped
from autograder.grading.executors.jobs import Settings
from autograder.grading.executors.references import ReferenceJob
from autograder.grading.executors.scheduler import LocalExecutor, run_all
from autograder.grading.isolation import sandbox
from autograder.notebooks import SOLUTION_MARKERS, nbgrader_meta, read

HERE = Path(__file__).resolve().parent
SCRIPTS = ("setup.sh", "run_autograder")  # at the zip's root, executable
PACKAGES = ("autograder", "cs231n_utils")
TOP_FILES = ("pyproject.toml", "README.md")  # pip reads README.md: pyproject names it
DATA = REPO_ROOT / "data"
DATA_ALWAYS = ("SHA256SUMS",)  # cs231n_utils.datasets checks every file it loads against it
SKIPPED = {"__pycache__", ".ipynb_checkpoints", "mutations"}  # mutations: for the test suite
DEFAULT_OUT = REPO_ROOT / "build" / "gradescope" / "autograder.zip"
REFERENCES = "references.json"  # at the zip's root; root's alone once set up (run.lock_down)
SETTINGS = "gradescope.json"  # at the zip's root: {"visibility": ...}, read by run_autograder
SECRET_MODES = {REFERENCES: 0o600}  # in the zip too: whoever unzips it keeps them private


def release_out_of_date() -> list[str]:
    """What `make check-release` reports (empty when notebooks/ is what solutions/ make).

    Run as a command, not imported: the Gradescope package builds on grading alone, and
    authoring (nbgrader's generate step) is not part of what it ships."""
    done = subprocess.run(
        [sys.executable, "-m", "autograder.authoring.release", "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    found = done.stdout.splitlines()
    if done.returncode == 0:
        return []
    if done.returncode == 1 and found:
        return found
    raise RuntimeError(f"checking the release failed:\n{done.stderr.strip() or done.stdout}")


def loaders() -> dict[str, set[str]]:
    """load_* function of cs231n_utils.datasets -> the data files named in its body."""
    tree = ast.parse((REPO_ROOT / "cs231n_utils" / "datasets.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("load_"):
            found[node.name] = {
                c.value
                for c in ast.walk(node)
                if isinstance(c, ast.Constant)
                and isinstance(c.value, str)
                and (DATA / c.value).is_file()
            }
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


def graders_copy(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The solution notebook without its solutions: the lines between each pair of solution
    markers removed (the markers kept, so that nbgrader's generate_assignment still makes the
    same release of it) and every solution cell without markers (a model written answer)
    emptied. Test cells, hidden tests included, and every other cell stay as they are."""
    copy = nbformat.reads(nbformat.writes(solution), as_version=4)
    begin, end = SOLUTION_MARKERS
    for cell in copy.cells:
        if not nbgrader_meta(cell).get("solution"):
            continue
        kept, inside, had_region = [], False, False
        for line in cell.source.split("\n"):
            if line.strip() == begin:
                inside = had_region = True
            elif line.strip() == end:
                inside = False
            elif inside:
                continue
            kept.append(line)
        cell.source = "\n".join(kept) if had_region else ""
    return copy


def members(
    notebooks: list[str], references: bytes, visibility: str = results.VISIBILITY
) -> list[tuple[Path | bytes, str]]:
    """(file or content, name in the zip) for everything the autograder needs."""
    found: list[tuple[Path | bytes, str]] = [(HERE / script, script) for script in SCRIPTS]
    found.append((json.dumps({"visibility": visibility}).encode(), SETTINGS))
    found += [(REPO_ROOT / name, name) for name in TOP_FILES]
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*")):
            parts = path.relative_to(REPO_ROOT).parts
            if path.is_file() and not SKIPPED & set(parts) and path.suffix != ".pyc":
                found.append((path, "/".join(parts)))
    for notebook in notebooks:
        path = RELEASE / f"{notebook}.ipynb"
        found.append((path, path.relative_to(REPO_ROOT).as_posix()))
        copy = graders_copy(read(SOLUTIONS / f"{notebook}.ipynb"))
        name = (SOLUTIONS / f"{notebook}.ipynb").relative_to(REPO_ROOT).as_posix()
        found.append((nbformat.writes(copy).encode(), name))
    found += [(DATA / name, f"data/{name}") for name in data_files(notebooks)]
    return [*found, (references, REFERENCES)]


def strongest_level() -> sandbox.Isolation:
    """The isolation the solutions run at here: the sandbox, else bubblewrap's namespaces;
    where neither works, none (they are the course's own notebooks, not a student's)."""
    available = sandbox.available_levels(sandbox.probe())
    for level in (sandbox.Isolation.SANDBOX, sandbox.Isolation.NAMESPACES):
        if level in available:
            return level
    print("build: no sandbox here: the solutions run unsandboxed (they are the course's own)")
    return sandbox.Isolation.NONE


def compute_references(notebooks: list[str], work: Path, workers: int = 2) -> dict:
    """Run each solution twice in `work` (as cs231n-grade does: a run already there, made
    from the same solution and grader, is kept) and return the references file's content."""
    settings = Settings(isolation=strongest_level(), hidden=[str(work)])
    jobs = [ReferenceJob(notebook, run) for notebook in notebooks for run in (0, 1)]
    todo = [job for job in jobs if not job.done(work)]
    failed = [
        f"{job.label}: {result}"
        for job, result in run_all(
            LocalExecutor(workers),
            todo,
            lambda job: job.task(settings),
            lambda job, returned: job.finish(work, returned),
            "solutions",
        )
        if isinstance(result, BaseException)
    ]
    if failed:
        raise RuntimeError("the solutions could not be run:\n" + "\n".join(failed))
    return shipped.pack(work, notebooks)


def build(
    notebooks: list[str],
    out: Path,
    references: dict | None = None,
    visibility: str = results.VISIBILITY,
) -> Path:
    """Write the zip to `out`, readable by its owner only (its folder created; the solution
    runs kept beside it in solution-runs/, 0700); return `out`. references: the references
    file's content, if already computed; visibility: when students see their results."""
    if visibility not in results.VISIBILITIES:
        raise ValueError(f"visibility {visibility!r}: one of {', '.join(results.VISIBILITIES)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if references is None:
        work = out.parent / "solution-runs"
        work.mkdir(mode=0o700, exist_ok=True)
        work.chmod(0o700)  # the hidden tests' answers: full marks for whoever reads them
        references = compute_references(notebooks, work)
    content = json.dumps(references).encode()
    partial = out.with_suffix(".zip.partial")
    partial.touch(mode=0o600)
    partial.chmod(0o600)
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for source, name in members(notebooks, content, visibility):
            info = zipfile.ZipInfo.from_file(source, name) if isinstance(source, Path) else None
            info = info or zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            mode = SECRET_MODES.get(name, 0o755 if name in SCRIPTS else 0o644)
            info.external_attr = (0o100000 | mode) << 16  # a regular file and its permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes() if isinstance(source, Path) else source)
    partial.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    everything = [Path(n).stem for n in notebook_names()]
    parser.add_argument(
        "--notebooks",
        nargs="+",
        metavar="NAME",
        default=everything,
        help="the notebooks to grade (file stems; default: all)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the zip to write")
    parser.add_argument(
        "--visibility",
        choices=results.VISIBILITIES,
        default=results.VISIBILITY,
        help="when students see their results (default: after the due date)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.notebooks) - set(everything)
    if unknown:
        parser.error(f"no such notebook(s): {', '.join(sorted(unknown))}")
    stale = release_out_of_date()  # the package would grade a release students do not have
    if stale:
        print("\n".join([*stale, "build: no zip written."]))
        return 1
    notebooks = [n for n in everything if n in args.notebooks]
    out = build(notebooks, args.out.resolve(), visibility=args.visibility)
    print(f"{out}: {len(notebooks)} notebook(s); upload it in Gradescope (Configure Autograder)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
