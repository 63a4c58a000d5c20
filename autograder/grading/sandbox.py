"""What isolation this machine offers for running student notebooks.

    python -m autograder.grading.sandbox    # print the report; exit 1 if grading would be unsafe

The batch grader runs every student kernel inside bubblewrap (its own mount, network, PID and
IPC namespaces, a read-only view of the system, no view of solutions/ or the gradebook), in
cgroup v1 `memory` and `pids` groups (a memory cap and a process cap), as an unprivileged uid
of its own per worker (RLIMIT_NPROC counts per uid and is ignored for root). This module only
finds out which of these work here, by trying each one for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CGROUP_V1 = Path("/sys/fs/cgroup")
FIRST_SANDBOX_UID = 61000  # uids FIRST_SANDBOX_UID + worker index run the student kernels
REQUIRED = ("bubblewrap", "no network", "memory cap", "process cap", "separate uids")


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
) -> list[str]:
    """A bubblewrap command line that runs `inner` with the IPC, PID, network and UTS
    namespaces unshared (no network), the host's files read-only, a private /tmp, and nothing
    left when the parent dies. `user_namespace=False` is for root, who then drops to an
    unprivileged uid inside the sandbox (a user namespace would map no other uid).
    `tmp_bytes` caps the private /tmp and /dev/shm (tmpfs: their pages also count against a
    memory cgroup)."""
    size = ["--size", str(tmp_bytes)] if tmp_bytes else []
    unshare = (
        ["--unshare-all"]
        if user_namespace
        else [
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]
    )
    return [
        bwrap,
        *unshare,
        "--die-with-parent",
        "--new-session",
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--perms", "1777", *size, "--tmpfs", "/tmp",
        "--perms", "1777", *size, "--tmpfs", "/dev/shm",  # multiprocessing (DataLoader workers)
        *inner,
    ]  # fmt: skip


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


def probe_cgroup(controller: str, limit_file: str, value: str, label: str) -> Capability:
    """Whether a cgroup v1 group can be created under `controller` and limited."""
    base = CGROUP_V1 / controller
    if not (base / "cgroup.procs").exists():
        v2 = CGROUP_V1 / "cgroup.controllers"
        where = f"cgroup v2 only ({v2.read_text().strip()})" if v2.exists() else "not mounted"
        return Capability(label, False, f"cgroup v1 {controller} controller {where}")
    group = base / f"cs231n-probe-{os.getpid()}"
    try:
        group.mkdir()
        (group / limit_file).write_text(value)
        return Capability(label, True, f"cgroup v1 {controller}: {base}")
    except OSError as error:
        return Capability(label, False, f"cannot create a {controller} cgroup: {error.strerror}")
    finally:
        if group.exists():
            group.rmdir()


def probe_uids() -> Capability:
    """Whether worker kernels can run as unprivileged uids of their own."""
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
    return [
        *probe_bubblewrap(),
        probe_cgroup("memory", "memory.limit_in_bytes", str(256 * 2**20), "memory cap"),
        probe_cgroup("pids", "pids.max", "64", "process cap"),
        probe_uids(),
    ]


def missing(capabilities: list[Capability]) -> list[str]:
    """Names of required isolation features that are not available."""
    return [c.name for c in capabilities if c.name in REQUIRED and not c.available]


def report(capabilities: list[Capability]) -> str:
    lines = ["Sandbox for student code on this machine:", *map(str, capabilities)]
    gaps = missing(capabilities)
    if gaps:
        lines.append(
            "Grading would NOT be isolated (missing: " + ", ".join(gaps) + "). Student code "
            "could read solutions, reach the network or exhaust the machine."
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
