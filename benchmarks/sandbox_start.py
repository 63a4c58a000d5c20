"""What the sandbox's allow-list costs at start, against the old view of the whole host.

    sudo .venv/bin/python benchmarks/sandbox_start.py [--runs 9]

Two measurements, each the median of --runs, the two views interleaved so that a change in
the machine's load hits both alike:
- a sandboxed Python that imports nothing (`python -S -c pass` in `sandbox.bwrap_command`);
- a real kernel start at level `sandbox` (SandboxedKernel.start until the kernel answers,
  cgroup and uid included).
The old view is rebuilt here as it was before the allow-list (`--ro-bind / /`, its own /proc
and /dev, private /tmp and /dev/shm, the checkout, /root and /home hidden, the interpreter and
the course's files bound through them); everything else is the current code. Needs root and
bubblewrap.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from autograder.course import REPO_ROOT
from autograder.grading.isolation import kernel, mounts, sandbox
from autograder.grading.isolation.kernel import SandboxedKernel
from autograder.grading.isolation.messages import Limits


def old_base(tmp_bytes: int | None = None) -> mounts.View:
    """The view before the allow-list: the host's / read-only, minus the checkout and homes."""
    view = mounts.View()
    view.args += ["--ro-bind", "/", "/"]
    view._mounts.append((Path("/"), Path("/")))
    view.special("--proc", "/proc")
    view.special("--dev", "/dev")
    view.tmpfs(Path("/tmp"), "1777", tmp_bytes)
    view.tmpfs(Path("/dev/shm"), "1777", tmp_bytes)
    for hidden in (REPO_ROOT, Path("/root"), Path("/home")):
        view.tmpfs(hidden)
    for prefix in mounts.python_prefixes():
        view.bind(prefix)
    return view


def python_once(base) -> float:
    view = base(Limits().tmp_bytes)
    command = sandbox.bwrap_command(["--", sys.executable, "-S", "-c", "pass"], view=view)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


ALLOW_LIST = mounts.base


def kernel_once(base) -> float:
    kernel.mounts.base = base  # the kernel module builds its view with mounts.base
    k = SandboxedKernel("bench", limits=Limits(memory_bytes=2 * 2**30, processes=64))
    try:
        start = time.perf_counter()
        k.start()
        return time.perf_counter() - start
    finally:
        k.__exit__(None, None, None)
        kernel.mounts.base = ALLOW_LIST


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    views = {"allow-list": ALLOW_LIST, "old --ro-bind / /": old_base}
    for label, once in (
        ("sandboxed python -S -c pass", python_once),
        ("kernel start", kernel_once),
    ):
        times = {name: [] for name in views}
        for _ in range(args.runs):
            for name, base in views.items():
                times[name].append(once(base))
        medians = {name: statistics.median(t) for name, t in times.items()}
        old, new = medians["old --ro-bind / /"], medians["allow-list"]
        print(
            f"{label}: allow-list {new * 1000:.0f} ms, old {old * 1000:.0f} ms, "
            f"difference {(new - old) * 1000:+.0f} ms (medians of {args.runs})"
        )


if __name__ == "__main__":
    main()
