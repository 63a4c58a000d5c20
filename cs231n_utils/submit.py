"""Check notebooks before submitting them, then zip them the way the grader reads them.

In a terminal, from the folder that holds your notebooks (notebooks/dl_software with `make lab`):

    cs231n-submit                                    # the whole unit, every notebook
    cs231n-submit 01_numpy_gradients.ipynb --student-id ada     # one notebook

or in a new cell at the end of a notebook (on Colab too, where the zip is then downloaded):

    from cs231n_utils.submit import check_and_package
    check_and_package("01_numpy_gradients.ipynb", student_id="ada")

For each notebook it checks that the saved file is a valid notebook that was run top to bottom,
runs it again in a fresh kernel and reports every cell whose outcome differs from what the file
shows (a cell that only worked because of something run out of order), checks that every graded
and locked cell is as released and every exercise was attempted, and warns about huge outputs.
Only when nothing is wrong does it write `<student id>_dl_software.zip`, holding
`<student id>/<notebook>` for each notebook plus `<student id>/environment.json` (versions and
device), into the current folder (or `--out`).

Running a notebook again is the slow part, so only what may have changed is run: the notebooks
named, or, when none is named, those whose file changed since their last successful check
(kept in `.cs231n-submit.json` beside them); `--rerun-all` runs every one. Each problem is one
line (the error's type and message); `--verbose` adds the full traceback. The zip is written
under a temporary name and renamed when complete, so a failed run leaves no half-written file.

The student id names the folder inside the zip, which the grader takes as your id. It is, in
order: `--student-id` (`student_id=`), the CS231N_STUDENT_ID environment variable, or your login
name (`student` where the login is root, as on Colab). It may hold letters, digits, `.`, `_`, `-`.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import platform
import re
import sys
import zipfile
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from cs231n_utils.files import atomic_path
from cs231n_utils.notebook_checks import (
    Report,
    check_cells,
    check_output_sizes,
    check_run_order,
    compare_runs,
    one_line,
    read_saved,
    rerun,
)

ASSIGNMENT = "dl_software"
RELEASE_CELLS = "release_cells.json"  # written by `make release` next to this module
STUDENT_ID_ENV = "CS231N_STUDENT_ID"
COLAB_DRIVE = Path("/content/drive/MyDrive/Colab Notebooks")  # where Colab saves copies
CHECKED = ".cs231n-submit.json"  # beside the notebooks: each file's hash at its last good check


class SubmitError(RuntimeError):
    """Something must be fixed before the notebooks can be packaged; the message lists it."""


# ----------------------------------------------------------------- what was released


def release_cells() -> dict[str, list[dict]]:
    """Release notebook name -> its nbgrader cells (grade_id, cell_type, locked, grade,
    solution, points, source), as `make release` recorded them."""
    text = resources.files("cs231n_utils").joinpath(RELEASE_CELLS).read_text(encoding="utf-8")
    return json.loads(text)["notebooks"]


def on_colab() -> bool:
    """Whether this is a Colab kernel (Colab imports google.colab when the kernel starts)."""
    return "google.colab" in sys.modules


def find_notebook(name: str, folder: Path) -> Path | None:
    """The student's copy of release notebook `name`: folder/name, and on Colab also the copy
    Colab saved to Drive ("Copy of <name>" in Colab Notebooks/, with Drive mounted)."""
    candidates = [folder / name]
    if on_colab():
        candidates += [COLAB_DRIVE / name, COLAB_DRIVE / f"Copy of {name}"]
    return next((p for p in candidates if p.is_file()), None)


def student_id(given: str | None = None) -> str:
    """The id the zip's folder is named after (see the module docstring for the order)."""
    chosen = given or os.environ.get(STUDENT_ID_ENV)
    if not chosen:
        try:
            chosen = getpass.getuser()
        except (OSError, KeyError):
            chosen = ""
        if chosen in ("", "root"):
            chosen = "student"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", chosen):
        raise SubmitError(
            f"student id {chosen!r} may hold only letters, digits, '.', '_' and '-' (and start "
            "with a letter or digit)"
        )
    return chosen


# ------------------------------------------------------------------------- the checks


def check_notebook(
    name: str,
    folder: Path,
    released: list[dict],
    allow_unfinished: bool = False,
    execute: bool = True,
    verbose: bool = False,
) -> Report:
    """Every check on one notebook; the report lists problems and warnings (one line each;
    with `verbose`, a failed fresh run's traceback is printed too)."""
    path = find_notebook(name, folder)
    report = Report(name, path)
    if path is None:
        where = f"{folder}" + (f" or {COLAB_DRIVE}" if on_colab() else "")
        report.problems.append(f"not found in {where}; save it there under this name")
        return report
    nb = read_saved(path, report)
    if nb is None:
        return report
    check_cells(nb, released, report, allow_unfinished)
    check_run_order(nb, report)
    check_output_sizes(nb, path, report)
    if execute:
        points = {c["grade_id"]: c["points"] for c in released if c["grade"]}
        try:
            fresh = rerun(nb, path.parent)
        except Exception as error:  # a kernel that dies or a cell that times out
            if verbose:
                import traceback

                traceback.print_exception(error)
            report.problems.append(
                f"running it again in a fresh kernel failed: {one_line(error)}"
                + ("" if verbose else " (--verbose shows the traceback)")
            )
        else:
            compare_runs(nb, fresh, report, points)
    return report


# --------------------------------------------------------------------- the package


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def last_checked(folder: Path) -> dict[str, str]:
    """Notebook name -> the hash of its file at its last successful check ({} if none)."""
    try:
        data = json.loads((folder / CHECKED).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def remember_checked(folder: Path, reports: list[Report]) -> None:
    """Record the files that passed this check, so the next run need not run them again."""
    known = last_checked(folder)
    known.update({r.name: _digest(r.path) for r in reports if r.path and not r.problems})
    try:
        with atomic_path(folder / CHECKED) as temporary:
            temporary.write_text(json.dumps(known, indent=1) + "\n")
    except OSError:
        pass  # a read-only folder: the next check runs them again, nothing is lost


def to_run(names: list[str], named: bool, folder: Path, execute: bool | None) -> set[str]:
    """The notebooks to run again: all (execute=True), none (False), or by default those
    named, or when none is named those changed since their last successful check."""
    if execute is not None or named:
        return set(names) if execute is not False else set()
    checked = last_checked(folder)
    changed = set()
    for name in names:
        path = find_notebook(name, folder)
        if path is None or checked.get(name) != _digest(path):
            changed.add(name)
    return changed


def environment_info() -> dict:
    """The versions and the device this submission was made with, for environment.json."""
    from cs231n_utils import devices, environment

    info: dict = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": devices.framework_versions(),
        "tested_versions": environment.TESTED,
        "version_drift": environment.version_drift(),
        "platform": platform.platform(),
        "colab": on_colab(),
        "cpu": devices.cpu_model(),
        "gpus": devices.gpu_names(),
        "tpu_runtime": devices.tpu_runtime_present(),
    }
    if info["versions"].get("torch"):
        try:
            info["torch_device"] = str(devices.torch_device_choice())
        except Exception as error:  # a broken PyTorch install should not stop a submission
            info["torch_device"] = f"unknown ({error})"
    return info


def write_zip(files: dict[str, Path], sid: str, out_dir: Path, env: dict) -> Path:
    """Write out_dir/<sid>_<assignment>.zip holding <sid>/<name> for each file and
    <sid>/environment.json; atomically (a temporary file renamed at the end)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{sid}_{ASSIGNMENT}.zip"
    with atomic_path(target) as temporary:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, path in files.items():
                archive.write(path, f"{sid}/{name}")
            archive.writestr(f"{sid}/environment.json", json.dumps(env, indent=1) + "\n")
    return target


def check_and_package(
    *notebooks: str,
    student_id: str | None = None,
    folder: str | Path | None = None,
    out: str | Path | None = None,
    allow_unfinished: bool = False,
    execute: bool | None = None,
    download: bool = True,
    verbose: bool = False,
) -> Path:
    """Check the named notebooks (all of the unit's when none are named) and write the zip.

    notebooks: release file names, e.g. "01_numpy_gradients.ipynb".
    student_id: see the module docstring. folder: where the notebooks are (the current
    folder by default). out: where the zip goes (the current folder by default).
    allow_unfinished: report an exercise left as released as a warning, not a problem.
    execute: run notebooks again in a fresh kernel (the check of what the grader sees):
    True all, False none, None (default) those named, or with none named those changed since
    their last successful check. download: on Colab, offer the zip for download.
    verbose: print the traceback of a fresh run that failed.
    Returns the zip's path; raises SubmitError listing the problems, writing nothing."""
    sid = _student_id(student_id)
    released = release_cells()
    names = [Path(n).name for n in notebooks] or sorted(released)
    unknown = [n for n in names if n not in released]
    if unknown:
        raise SubmitError(
            f"not notebooks of this unit: {', '.join(unknown)} (expected some of: "
            f"{', '.join(sorted(released))})"
        )
    folder = Path(folder) if folder else Path.cwd()
    running = to_run(names, bool(notebooks), folder, execute)
    reports = []
    for name in names:
        run = name in running
        note = "" if run or execute is False else ": unchanged since its last check, not run again"
        print(f"checking {name}{note} ...", flush=True)
        reports.append(check_notebook(name, folder, released[name], allow_unfinished, run, verbose))
    lines = [line for report in reports for line in report.lines()]
    problems = sum(len(r.problems) for r in reports)
    if problems:
        raise SubmitError(
            f"{problems} problem(s) to fix before submitting; nothing was written:\n"
            + "\n".join(lines)
        )
    print("\n".join(lines))
    remember_checked(folder, [r for r in reports if r.name in running])
    target = write_zip(
        {r.name: r.path for r in reports}, sid, Path(out) if out else Path.cwd(), environment_info()
    )
    print(f"wrote {target} ({len(reports)} notebook(s), student id {sid!r})")
    if download and on_colab():
        from google.colab import files

        files.download(str(target))
    return target


def _student_id(given: str | None) -> str:
    sid = student_id(given)
    if not given and not os.environ.get(STUDENT_ID_ENV):
        print(
            f"student id: {sid!r} (from your login; pass --student-id / student_id= or set "
            f"{STUDENT_ID_ENV} to change it)"
        )
    return sid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cs231n-submit",
        description="Check notebooks as the grader will see them, then zip them for submission.",
        epilog=f"The student id comes from --student-id, else ${STUDENT_ID_ENV}, else your "
        "login name ('student' for root, as on Colab).",
    )
    parser.add_argument("notebooks", nargs="*", help="notebook files (default: the whole unit)")
    parser.add_argument("--student-id", help=f"your student id (default: ${STUDENT_ID_ENV})")
    parser.add_argument("--folder", help="where the notebooks are (default: this folder)")
    parser.add_argument("--out", help="where to write the zip (default: this folder)")
    parser.add_argument(
        "--allow-unfinished",
        action="store_true",
        help="package even if an exercise was not attempted (reported as a warning)",
    )
    parser.add_argument(
        "--rerun-all", action="store_true", help="run every notebook again, changed or not"
    )
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    folder = args.folder
    if folder is None and args.notebooks:
        parents = {Path(n).parent for n in args.notebooks}
        folder = parents.pop() if len(parents) == 1 else None
        if folder is None:
            parser.error("name notebooks from one folder (or pass --folder)")
    try:
        check_and_package(
            *args.notebooks,
            student_id=args.student_id,
            folder=folder,
            out=args.out,
            allow_unfinished=args.allow_unfinished,
            execute=True if args.rerun_all else None,
            verbose=args.verbose,
        )
    except Exception as error:  # a SubmitError lists the problems; anything else is one line
        if args.verbose and not isinstance(error, SubmitError):
            raise
        reason = str(error) if isinstance(error, SubmitError) and str(error) else one_line(error)
        hint = "" if isinstance(error, SubmitError) else " (--verbose shows the traceback)"
        print(f"\nNOT SUBMITTED: {reason}{hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
