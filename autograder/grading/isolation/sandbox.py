"""What isolation this machine offers for running student notebooks, and the named levels of
isolation the grader can run them at.

    python -m autograder.grading.isolation.sandbox   # the report; exit 1 if `sandbox` is missing

Levels (`Isolation`), strongest first; `cs231n-grade --isolation LEVEL` picks one:

- `sandbox` (the default): bubblewrap (its own mount, network, PID and IPC namespaces, an
  allow-list of the host's files, read-only: `mounts.py`), a cgroup (v2, or v1
  where that is what the host has: `cgroups.py`) with a memory cap and a process cap, and an
  unprivileged uid of its own per worker.
- `namespaces`: bubblewrap's namespaces and the uid as above, and rlimits instead of a cgroup.
- `uid`: no bubblewrap (Docker containers, Gradescope's among them, cannot run it): the uid and
  rlimits only.
- `none`: no isolation at all (`--unsafe-run-student-code-without-sandbox`).

`LEVELS` says what each protects and what it does not. This module finds out which parts work
here by trying each one for real.
"""

from __future__ import annotations

import enum
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from autograder.course import REPO_ROOT
from autograder.grading.isolation import cgroups, mounts
from cs231n_utils.threads import POOL_VARIABLES, WAIT_VARIABLES

FIRST_SANDBOX_UID = 61000  # uids FIRST_SANDBOX_UID + worker index run the student kernels


# One thread per pool in every graded kernel (a worker grades one notebook at a time, and
# --workers is sized to the cores): a notebook's own limit_threads() keeps this ceiling.
ONE_THREAD = dict.fromkeys(POOL_VARIABLES, "1") | WAIT_VARIABLES
KEPT = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "PYDEVD_DISABLE_FILE_VALIDATION")


def kernel_env(home: str) -> dict[str, str]:
    """An isolated kernel's whole environment: what it needs of the grader's (KEPT), none of
    its other variables (a token in the environment would be the student's to read)."""
    env = {k: os.environ[k] for k in KEPT if k in os.environ}
    env.update(ONE_THREAD, HOME=home, TMPDIR=home, MPLBACKEND="agg")
    return {**env, "CS231N_DATA": str(REPO_ROOT / "data")}


class Isolation(enum.StrEnum):
    SANDBOX = "sandbox"
    NAMESPACES = "namespaces"
    UID = "uid"
    NONE = "none"


@dataclass(frozen=True)
class Level:
    needs: tuple[str, ...]  # Capability names
    protects: str
    does_not: str


LEVELS = {
    Isolation.SANDBOX: Level(
        ("bubblewrap", "no network", "cgroup", "separate uids"),
        "no network; an allow-list of the host's files, read-only (mounts.py): /usr but its "
        "source trees, the top-level links into it, a few files of /etc (no passwd, shadow or "
        "keys), the Python installation, cs231n_utils and data/'s listed data files; nothing "
        "else exists (no home folder, /srv, /opt, /var, other checkout, solutions, grading "
        "folder or submission); a private size-capped /tmp and /dev/shm as the only writable "
        "places; its own cgroup read-only at /sys/fs/cgroup; one memory cap and one process "
        "cap for the kernel and all it starts (an out-of-memory is reported as such); "
        "everything it started is killed through its cgroup",
        "a kernel exploit (the host's kernel is shared); the files it shows (whatever is "
        "under /usr, the interpreter's and the environment's folders, cs231n_utils, the data "
        "files): keep no copy of the course there",
    ),
    Isolation.NAMESPACES: Level(
        ("bubblewrap", "no network", "separate uids", "rlimits"),
        "as `sandbox` for the network, files, /tmp and /dev/shm (no cgroup shown); address "
        "space per process "
        "(RLIMIT_AS) and processes of the uid (RLIMIT_NPROC); everything it started dies with "
        "its PID namespace",
        "no cgroup: memory is capped per process, not in total (processes x cap); an "
        "out-of-memory shows as a MemoryError or a crash, not as `memory`; and what `sandbox` "
        "does not protect",
    ),
    Isolation.UID: Level(
        ("separate uids", "rlimits"),
        "only what the host's permissions protect: the grader refuses to start unless the "
        "solutions, autograder/ (sources, mutations, grader-only data), tests/, build/, the "
        "git history, the sample and student submissions and the grading folder are "
        "unreadable to the uid; address space per process, processes of the uid "
        "and file size (rlimits); every process of the uid is killed after each kernel",
        "no network isolation (it reaches whatever the host reaches, the host's loopback "
        "included); it reads every world-readable file on the host, a copy of the course "
        "elsewhere included (--check-host finds them), and writes world-writable "
        "places (/tmp, /dev/shm, shared with the host); memory is capped per process only and "
        "an out-of-memory shows as a MemoryError or a crash; a kernel exploit",
    ),
    Isolation.NONE: Level(
        (),
        "nothing: only the timeouts and output caps",
        "everything: student code runs with your privileges, reads and changes your files, "
        "the gradebook and other students' work, and reaches the network",
    ),
}
REQUIRED = LEVELS[Isolation.SANDBOX].needs


@dataclass(frozen=True)
class Capability:
    name: str
    available: bool
    detail: str

    def __str__(self) -> str:
        return f"[{'ok' if self.available else 'NO'}] {self.name:<14} {self.detail}"


def bwrap_command(
    inner: list[str],
    bwrap: str = "bwrap",
    user_namespace: bool = True,
    tmp_bytes: int | None = None,
    view: mounts.View | None = None,
    cgroups: bool = True,
) -> list[str]:
    """A bubblewrap command line that runs `inner` (bubblewrap options that mount nothing,
    then "--" and the command) with the IPC, PID, network and UTS namespaces unshared (no
    network), nothing left when the parent dies, and `view`'s mounts on an empty root that
    is then made read-only: never the host's `/`. Without a view, `mounts.base(tmp_bytes)`:
    the system's programs and libraries, the Python installation, private /tmp and /dev/shm
    of `tmp_bytes` each. `user_namespace=False` is for root, who then drops to an
    unprivileged uid inside the sandbox (a user namespace would map no other uid).
    `cgroups=False` keeps the cgroup namespace: a warm server's forks join their kernels'
    cgroups, then unshare it (warm.py)."""
    view = view or mounts.base(tmp_bytes)
    unshare = (
        ["--unshare-all"]
        if user_namespace
        else [
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            *(["--unshare-cgroup-try"] if cgroups else []),
        ]
    )
    return [
        bwrap,
        *unshare,
        "--die-with-parent",
        "--new-session",
        *view.args,
        "--remount-ro",
        "/",
        *inner,
    ]


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def probe_bubblewrap() -> list[Capability]:
    """Whether bwrap starts a sandbox here, and whether that sandbox has no network."""
    path = shutil.which("bwrap")
    if path is None:
        missing = "not installed (Debian/Ubuntu: apt-get install bubblewrap)"
        return [
            Capability("bubblewrap", False, missing),
            Capability("no network", False, "needs bubblewrap"),
        ]
    result = _run(bwrap_command(["cat", "/proc/net/dev"], bwrap=path))
    if result.returncode != 0:
        error = (result.stderr.strip() or f"exit {result.returncode}").splitlines()[-1]
        hint = ""
        if "uid map" in error or "Permission denied" in error or "Operation not permitted" in error:
            hint = (
                " (unprivileged user namespaces are blocked; on Ubuntu 24.04 AppArmor does this:"
                " see kernel.apparmor_restrict_unprivileged_userns)"
            )
        return [
            Capability("bubblewrap", False, f"{path} cannot start a sandbox: {error}{hint}"),
            Capability("no network", False, "needs bubblewrap"),
        ]
    version = _run([path, "--version"]).stdout.strip()
    interfaces = [
        line.split(":")[0].strip() for line in result.stdout.splitlines()[2:] if ":" in line
    ]
    isolated = interfaces == ["lo"]
    return [
        Capability("bubblewrap", True, f"{version} at {path}"),
        Capability(
            "no network",
            isolated,
            "network namespace with loopback only"
            if isolated
            else f"sandbox still sees interfaces {interfaces}",
        ),
    ]


def probe_cgroup() -> Capability:
    """Which cgroup version works here, tried for real (`cgroups.probe`); later kernels use
    the version found."""
    cgroups.chosen.cache_clear()
    choice = cgroups.chosen()
    return Capability("cgroup", choice.version is not None, choice.reason)


def probe_rlimits() -> Capability:
    """Whether prlimit can start a program with the limits the rlimit levels use."""
    path = shutil.which("prlimit")
    if path is None:
        return Capability("rlimits", False, "prlimit not installed (util-linux)")
    result = _run([path, "--as=1073741824", "--nproc=64", "--fsize=1048576", "--", "true"])
    if result.returncode != 0:
        return Capability("rlimits", False, f"prlimit failed: {result.stderr.strip()}")
    return Capability("rlimits", True, f"{path}: RLIMIT_AS, RLIMIT_NPROC, RLIMIT_FSIZE")


def probe_uids() -> Capability:
    """Whether worker kernels can run as unprivileged uids of their own."""
    if shutil.which("setpriv") is None:
        return Capability("separate uids", False, "setpriv not installed (util-linux)")
    if os.geteuid() != 0:
        return Capability(
            "separate uids",
            False,
            "not root: every kernel runs as this user, so a process cap cannot be per student",
        )
    uid = FIRST_SANDBOX_UID
    pid = os.fork()
    if pid == 0:  # the child tries to become the sandbox user
        try:
            os.setgid(uid)
            os.setuid(uid)
            os._exit(0 if os.getuid() == uid else 1)
        except OSError:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    ok = os.waitstatus_to_exitcode(status) == 0
    detail = f"uids {uid}.. (one per worker)" if ok else f"setuid({uid}) failed"
    return Capability("separate uids", ok, detail)


def probe() -> list[Capability]:
    """Try every kind of isolation the grader uses; one Capability each."""
    return [*probe_bubblewrap(), probe_cgroup(), probe_uids(), probe_rlimits()]


def missing(capabilities: list[Capability], level: Isolation = Isolation.SANDBOX) -> list[str]:
    """Names of the capabilities `level` needs that are not available."""
    have = {c.name for c in capabilities if c.available}
    return [name for name in LEVELS[level].needs if name not in have]


def available_levels(capabilities: list[Capability]) -> list[Isolation]:
    return [level for level in Isolation if not missing(capabilities, level)]


def report(capabilities: list[Capability]) -> str:
    lines = ["Sandbox for student code on this machine:", *map(str, capabilities), ""]
    lines.append("Isolation levels (cs231n-grade --isolation LEVEL; strongest first):")
    for level, spec in LEVELS.items():
        gaps = missing(capabilities, level)
        state = "available" if not gaps else "NOT available (missing: " + ", ".join(gaps) + ")"
        if level is Isolation.NONE:
            state = "only with --unsafe-run-student-code-without-sandbox"
        lines += [
            f"  {level}: {state}",
            f"    protects: {spec.protects}",
            f"    does not: {spec.does_not}",
        ]
    gaps = missing(capabilities)
    if gaps:
        weaker = [str(level) for level in available_levels(capabilities)[:-1]]
        lines.append(
            "Grading in the full sandbox is NOT possible here (missing: "
            + ", ".join(gaps)
            + "). "
            + (
                "Weaker levels available: " + ", ".join(weaker) + "."
                if weaker
                else "No weaker level is available either."
            )
        )
    else:
        lines.append("All isolation the grader needs is available.")
    return "\n".join(lines)


def main() -> int:
    capabilities = probe()
    print(report(capabilities))
    return 1 if missing(capabilities) else 0


if __name__ == "__main__":
    sys.exit(main())
