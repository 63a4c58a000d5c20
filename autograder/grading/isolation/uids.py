"""The unprivileged uid of a worker slot, for the isolation levels without a cgroup: what it
can read (`protect` checks it before grading at the `uid` level), and killing every process it
has. Runs on the grader's side only, as root."""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

from autograder.course import REPO_ROOT


def _as_uid(uid: int, work) -> int:
    """Fork a child that drops to `uid` (no groups) and runs work(); its exit status."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os._exit(work())
        except BaseException:
            os._exit(100)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def readable_by(uid: int, paths: list[Path], max_entries: int = 5000) -> list[Path]:
    """Of `paths`, those that `uid` can read (a file), list (a folder), or read something in
    (a folder that lists nothing may still open files whose names are known). This side
    lists what is there (at most max_entries entries per path); a child that becomes `uid`
    tries each. Returns the first readable entry found for each path."""
    candidates = [_entries(Path(p), max_entries) for p in paths]
    read, write = os.pipe()

    def attempt() -> int:
        os.close(read)
        with os.fdopen(write, "w") as out:
            for entries in candidates:
                found = next((e for e in entries if _readable(e)), None)
                if found is not None:
                    out.write(f"{found}\0")
        return 0

    status = _as_uid(uid, attempt)
    os.close(write)
    with os.fdopen(read) as answer:
        text = answer.read()
    if status != 0:
        raise OSError(f"could not check what uid {uid} can read (child exit {status})")
    return [Path(p) for p in text.split("\0") if p]


def _entries(path: Path, limit: int) -> list[Path]:
    entries = [path]
    for folder, dirs, files in os.walk(path):
        entries += [Path(folder, name) for name in [*dirs, *files]]
        if len(entries) >= limit:
            break
    return entries[:limit]


def _readable(path: Path) -> bool:
    try:
        if path.is_dir():
            os.listdir(path)
        else:
            with open(path, "rb") as f:
                f.read(1)
        return True
    except OSError:
        return False


def processes_of(uid: int) -> list[int]:
    """Live (not zombie) processes whose real uid is `uid`."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
            if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
                found.append(int(status.parent.name))
        except (OSError, KeyError, ValueError):
            continue
    return found


def kill_uid(uid: int, timeout: float = 10.0) -> None:
    """Kill every process of `uid`: a child becomes the uid and sends kill(-1, SIGKILL), which
    reaches every process it may signal, i.e. the uid's; repeated until none is left (a fork
    racing a pass is caught by the next). Safe because a slot's uid serves one kernel at a
    time."""

    def kill_all() -> int:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError as error:
            return 0 if error.errno == errno.ESRCH else 1
        return 0

    deadline = time.monotonic() + timeout
    while processes_of(uid) and time.monotonic() < deadline:
        _as_uid(uid, kill_all)
        time.sleep(0.02)
    left = processes_of(uid)
    if left:
        raise OSError(f"processes of uid {uid} survived {timeout:.0f} s of SIGKILL: {left}")


def protected_paths(out: Path | None, hidden: list[str], root: Path = REPO_ROOT) -> list[Path]:
    """What a kernel at the `uid` level must not read, of the course checkout at `root`: the
    solutions (the release's source), the grader's sources (autograder/: its mutations quote
    solution lines, and grader-only data lives there), the tests (solution fragments,
    attacks), build outputs (demo grading folders, the Gradescope zip with its references),
    the git history (it holds all of them), the sample submissions (a complete one is a
    solution); the grading folder `out` (references, gradebook, unpacked submissions) and the
    folders the grader hides. The kernel needs only cs231n_utils/, data/'s files and the
    Python environment: everything else of the checkout may be closed."""
    names = ("solutions", "autograder", "tests", "build", "data/sample_submissions")
    paths = [root / name for name in names] + ([out] if out else []) + [*map(Path, hidden)]
    git = root / ".git"
    if git.is_file():  # a worktree: its objects live in the main checkout's git folder
        gitdir = Path(git.read_text().split(":", 1)[1].strip())
        common = gitdir / "commondir"
        git = (gitdir / common.read_text().strip()).resolve() if common.is_file() else gitdir
    return [*paths, git]


def readable_protected(
    out: Path | None, hidden: list[str], slot_uids: list[int], root: Path = REPO_ROOT
) -> list[str]:
    """Of protected_paths, the first entry of each that one of `slot_uids`, tried for real,
    can read. The slots' uids own no files and are in no group, so what one of them can read
    any can, unless a file or an ACL names one of them."""
    paths = [p for p in protected_paths(out, hidden, root) if p.exists()]
    return sorted({str(p) for uid in slot_uids for p in readable_by(uid, paths)})


def protect(out: Path, hidden: list[str], slot_uids: list[int], root: Path = REPO_ROOT) -> None:
    """Before grading at the `uid` level: make the grading folder private (0700, it is the
    grader's), then check, as each of `slot_uids` for real, that none of protected_paths can
    be read. Raises PermissionError naming the ones that can. Kernels take any free host-wide
    slot, not only these (see readable_protected). Everything else on the host is left to its
    permissions: a world-readable copy of the course elsewhere is readable at this level
    (`cs231n-grade --check-host --isolation uid` shows which)."""
    out.chmod(0o700)
    readable = readable_protected(out, hidden, slot_uids, root)
    if readable:
        raise PermissionError(
            "at isolation level 'uid' the student's kernel could read:\n  "
            + "\n  ".join(readable)
            + "\nMake them unreadable to other users (e.g. chmod -R o-rwx PATH, or chmod 700 "
            "the folder that holds them), then run again."
        )
