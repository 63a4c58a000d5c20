"""cs231n-grade --check-host: can a graded kernel on this host read a copy of the solutions?

    cs231n-grade --check-host [--isolation LEVEL] [--out DIR] [--memory-mb N] [--processes N]

A grading host often holds copies of the course besides the one that grades: an instructor's
clone, last term's folder beside this one, a CI cache, something unpacked in /tmp. This doctor
plants canary copies of a solution notebook (a real solution cell and a random token) where
such copies usually are (`places`), files 0644 in folders 0755 as a clone made under the usual
umask has them; starts a real graded kernel (`kernel.SandboxedKernel` with the grader's limits
and hidden folders, as `jobs` grades a notebook) at the level grading would use; and has it
read each canary and one real file of each part of the checkout no kernel may read
(`uids.protected_paths`), search its whole file system for the token for a bounded time,
report what it reaches on the network (a listener on the host's loopback, and whether a route
leads off the machine: a UDP connect to a documentation address, which sends no packet), and
read the memory and process caps it runs under (its cgroup's files, its rlimits). Every
canary is removed afterwards, on failure too. `main` returns 1 if the kernel read a canary or
a protected course file.

Runs on the grader's side. The probe it sends runs in the kernel, but no student code runs
there: its answers are this tool's own measurement, not a grade.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import re
import secrets
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.course import ASSIGNMENT, REPO_ROOT, SOLUTIONS, notebook_names
from autograder.grading.isolation import uids
from autograder.grading.isolation.kernel import SandboxedKernel
from autograder.grading.isolation.messages import Limits
from autograder.grading.isolation.sandbox import Isolation

CANARY = re.compile(r"cs231n-canary-[0-9a-f]{16}")  # the planted folders' names
SYSTEM_PLACES = ("/srv", "/opt", "/tmp", "/var/tmp", "/dev/shm", "/usr/local/src", "/mnt")

PROBE = r"""  # token, paths, port and seconds are set before it
import collections, json, os, resource, socket, time

def attempt(path):
    try:
        with open(path, "rb") as f:
            return "read" if token.encode() in f.read(2**22) else "read (no token)"
    except OSError as e:
        return type(e).__name__

places = {p: attempt(p) for p in paths}
start, found, folders = time.monotonic(), [], 0
queue = collections.deque(["/"])
while queue and time.monotonic() - start < seconds and len(found) < 20:
    folder = queue.popleft()
    folders += 1
    try:
        entries = list(os.scandir(folder))
    except OSError:
        continue
    for e in entries:
        try:
            if e.is_dir(follow_symlinks=False):
                if e.path not in ("/proc", "/sys", "/dev"):
                    queue.append(e.path)
            elif e.name.endswith(".ipynb") and attempt(e.path) == "read":
                found.append(e.path)
        except OSError:
            pass
search = {"folders": folders, "seconds": round(time.monotonic() - start, 1),
          "complete": not queue}

def loopback():
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return "reached"
    except OSError as e:
        return "blocked (" + type(e).__name__ + ")"

def route():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # a UDP connect only picks a route: nothing is sent
        return "yes, from " + s.getsockname()[0]
    except OSError as e:
        return "none (" + (e.strerror or type(e).__name__) + ")"
    finally:
        s.close()

with open("/proc/net/dev") as f:
    interfaces = [l.split(":")[0].strip() for l in f.read().splitlines()[2:] if ":" in l]
network = {"loopback": loopback(), "route": route(), "interfaces": interfaces}

def number(text):
    text = text.strip()
    return None if text == "max" or int(text) >= 2**60 else int(text)

def cgroup():
    caps, files = {}, {"memory": "memory.limit_in_bytes", "pids": "pids.max"}
    with open("/proc/self/cgroup") as f:
        lines = f.read().splitlines()
    for line in lines:
        _, controllers, path = line.split(":", 2)
        wanted = [(c, os.path.join(c, path.lstrip("/"), n)) for c, n in files.items()
                  if c in controllers.split(",")]
        if controllers == "":
            base = path.lstrip("/")
            wanted = [("memory", os.path.join(base, "memory.max")),
                      ("pids", os.path.join(base, "pids.max"))]
        for controller, name in wanted:
            try:
                with open(os.path.join("/sys/fs/cgroup", name)) as f:
                    caps.setdefault(controller, number(f.read()))
            except (OSError, ValueError):
                pass
    return caps

def rlimit(name):
    soft = resource.getrlimit(getattr(resource, name))[0]
    return None if soft == resource.RLIM_INFINITY else soft

caps = cgroup()
limits = {"cgroup memory": caps.get("memory"), "cgroup pids": caps.get("pids"),
          "RLIMIT_AS": rlimit("RLIMIT_AS"), "RLIMIT_NPROC": rlimit("RLIMIT_NPROC"),
          "uid": os.getuid()}
print(json.dumps({"places": places, "found": found, "search": search,
                  "network": network, "limits": limits}))
"""


@dataclass
class Report:
    """What the kernel could reach. `places`: (what, path, outcome) for each canary and
    protected course file ("read" or the error the kernel got); `found`: files the search
    found holding the token; `protected`: at the `uid` level, the course paths grading would
    refuse to start over (uids.protect)."""

    level: Isolation
    places: list[tuple[str, str, str]]
    found: list[str]
    search: dict
    network: dict
    limits: dict
    protected: list[str] = field(default_factory=list)
    started: str = "cold"  # or "warm": forked from a warm server, as grading starts kernels

    def readable(self) -> list[str]:
        """Every path the kernel read that it must not: canaries, course files, finds."""
        read = [path for _, path, outcome in self.places if outcome.startswith("read")]
        return sorted({*read, *self.found, *self.protected})

    def text(self) -> str:
        lines = [
            f"Host check at isolation level '{self.level}', from a {self.started} graded "
            f"kernel (uid {self.limits.get('uid')}):",
            "Copies of the solutions:",
        ]
        for what, path, outcome in self.places:
            state = "READABLE" if outcome.startswith("read") else "safe"
            lines.append(f"  [{state:<8}] {what}: {path} ({outcome})")
        search = self.search
        extent = "all of it" if search.get("complete") else "stopped at the time limit"
        lines.append(
            f"Search of the kernel's file system for the token: {search.get('folders')} "
            f"folders in {search.get('seconds')} s ({extent}); "
            + ("found in: " + ", ".join(self.found) if self.found else "not found")
        )
        if self.protected:
            lines.append(
                "Grading at 'uid' would refuse: the kernel's uid reads " + ", ".join(self.protected)
            )
        net = self.network
        lines.append(
            f"Network: the host's loopback {net.get('loopback')}; route off the machine: "
            f"{net.get('route')}; interfaces: {', '.join(net.get('interfaces', []))}"
        )
        lim = self.limits
        lines.append(
            f"Memory cap: cgroup {_size(lim.get('cgroup memory'))}, RLIMIT_AS "
            f"{_size(lim.get('RLIMIT_AS'))}; process cap: cgroup "
            f"{lim.get('cgroup pids') or 'none'}, RLIMIT_NPROC {lim.get('RLIMIT_NPROC') or 'none'}"
        )
        bad = self.readable()
        if bad:
            lines.append(f"FAIL: a student's kernel reads {len(bad)} path(s) it must not.")
            if self.level is Isolation.UID:
                lines.append(
                    "At 'uid' the host's permissions are the only wall: make copies "
                    "of the course unreadable to other users (chmod -R o-rwx), or "
                    "grade at 'sandbox'."
                )
        else:
            lines.append("OK: the kernel read no canary and no protected course file.")
        return "\n".join(lines)


def _size(value) -> str:
    return "none" if value is None else f"{value / 2**20:.0f} MiB"


def places(out: Path | None = None) -> list[tuple[str, Path]]:
    """(what, folder) where copies of the course usually are on a grading host, those that
    exist: root's home, a normal user's home, /srv, /opt, /tmp and the like, the folder that
    holds this checkout (last term's clone beside it), the checkout itself and its data/,
    the current directory and the grading folder."""
    users = sorted((u for u in pwd.getpwall() if 1000 <= u.pw_uid < 60000), key=lambda u: u.pw_uid)
    homes = [Path(u.pw_dir) for u in users if Path(u.pw_dir).is_dir() and u.pw_dir != "/"]
    found = [("root's home", Path("/root")), *(("a user's home", h) for h in homes[:1])]
    found += [(name, Path(name)) for name in SYSTEM_PLACES]
    found += [("beside the checkout", REPO_ROOT.parent), ("the checkout", REPO_ROOT)]
    found += [("the checkout's data/", REPO_ROOT / "data"), ("the current folder", Path.cwd())]
    if out is not None:
        found.append(("the grading folder", out))
    unique, seen = [], set()
    for what, folder in found:
        if folder.is_dir() and folder.resolve() not in seen:
            seen.add(folder.resolve())
            unique.append((what, folder))
    return unique


def solution_cell() -> tuple[str, str]:
    """(notebook file name, source) of the first solution cell of the course's notebooks."""
    for name in notebook_names():
        for cell in nbformat.read(SOLUTIONS / name, as_version=4).cells:
            if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source:
                return name, cell.source
    raise RuntimeError(f"no solution cell in {SOLUTIONS}")


def plant(folder: Path, token: str, name: str, source: str) -> Path:
    """A canary clone in `folder`: cs231n-canary-TOKEN/solutions/<assignment>/<name>, a
    notebook with the solution cell and the token; returns the clone's top folder."""
    top = folder / f"cs231n-canary-{token}"
    notebooks = top / "solutions" / ASSIGNMENT
    notebooks.mkdir(parents=True)
    for path in (top, top / "solutions", notebooks):
        path.chmod(0o755)  # as a clone under umask 022, whatever this process's umask
    cell = nbformat.v4.new_code_cell(f"# {token}\n{source}")
    path = notebooks / name
    path.write_text(nbformat.writes(nbformat.v4.new_notebook(cells=[cell])))
    path.chmod(0o644)
    return top


def remove_stale(folders: list[Path]) -> None:
    """Remove canary clones an earlier check left (killed before it could)."""
    for folder in folders:
        for path in folder.glob("cs231n-canary-*"):
            if CANARY.fullmatch(path.name) and path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)


def course_files(out: Path | None, hidden: list[str]) -> list[tuple[str, str]]:
    """(what, a real file) of each part of the checkout no kernel may read: its first
    notebook, else its first file (a bounded walk)."""
    found = []
    for path in uids.protected_paths(out, hidden):
        first = path if path.is_file() else None
        for folder, _, files in os.walk(path) if path.is_dir() else ():
            notebooks = sorted(f for f in files if f.endswith(".ipynb"))
            first = first or (Path(folder, files[0]) if files else None)
            if notebooks:
                first = Path(folder, notebooks[0])
                break
        if first is not None:
            found.append((f"the course's {path.name}", str(first)))
    return found


def check(
    level: Isolation,
    limits: Limits | None = None,
    out: Path | None = None,
    where: list[tuple[str, Path]] | None = None,
    search_s: float = 30.0,
    read_only: list[Path] = (),
    warm: bool = True,
) -> Report:
    """Plant canaries in `where` (default: `places(out)`), run the probe in a graded kernel
    at `level`, remove the canaries, and return what the kernel reached. `read_only` adds
    folders to the kernel's view (a test shows with it that the check can fail). `warm`: the
    kernel is forked from a warm server where the level allows it, as grading does."""
    where = places(out) if where is None else where
    hidden = [str(out)] if out else []
    limits = limits or Limits()
    limits = dataclasses.replace(limits, cell_timeout_s=search_s + 60)
    token = secrets.token_hex(8)
    name, source = solution_cell()
    remove_stale([folder for _, folder in where])
    planted: list[Path] = []
    try:
        canaries = []
        for what, folder in where:
            planted.append(plant(folder, token, name, source))
            canaries.append((what, str(planted[-1] / "solutions" / ASSIGNMENT / name)))
        targets = [*canaries, *course_files(out, hidden)]
        with socket.create_server(("127.0.0.1", 0)) as server:
            paths, port = [p for _, p in targets], server.getsockname()[1]
            code = f"token, paths, port, seconds = {token!r}, {paths!r}, {port}, {search_s!r}\n"
            kernel = SandboxedKernel(
                "host-check",
                limits=limits,
                read_only=list(read_only),
                hidden=[Path(p) for p in hidden],
                isolation=level,
                warm=["numpy"] if warm else None,
            )
            with kernel:
                started = "warm" if kernel.forked is not None else "cold"
                outcome = kernel.run(code + PROBE)
                protected = (
                    uids.readable_protected(out, hidden, [kernel.uid])
                    if level is Isolation.UID
                    else []
                )
    finally:
        for top in planted:
            shutil.rmtree(top, ignore_errors=True)
    if outcome.status != "ok":
        raise RuntimeError(f"the probe failed in the kernel: {outcome.status} {outcome.error}")
    answer = json.loads(outcome.stdout.strip().splitlines()[-1])
    places_read = [(what, path, answer["places"][path]) for what, path in targets]
    return Report(
        level,
        places_read,
        answer["found"],
        answer["search"],
        answer["network"],
        answer["limits"],
        protected,
        started,
    )


def main(level: Isolation, limits: Limits, out: Path | None, warm: bool = True) -> int:
    """Run the check at `level`, print the report; 1 if the kernel read what it must not."""
    report = check(level, limits, out.resolve() if out else None, warm=warm)
    print(report.text())
    return 1 if report.readable() else 0


if __name__ == "__main__":  # python -m autograder.grading.isolation.hostcheck: at the default level
    raise SystemExit(main(Isolation.SANDBOX, Limits(), None))
