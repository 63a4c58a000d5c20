"""Thread pools sized to the CPUs this process may use, so that a notebook shares a busy machine.

NumPy's BLAS (OpenBLAS or MKL), PyTorch and TensorFlow each start a pool of worker threads
when they load, sized by the machine's cores: not by the cores a container's CPU quota or an
affinity mask leaves this process, and not by what other programs are running. A pool's
threads wait for each other at the end of every parallel product, and OpenBLAS's and OpenMP's
waiting threads spin on a core rather than sleep: beside other load, a thread that spins holds
the core its partner needs. `limit_threads()` sizes every pool to `usable_cpus()` and makes
waiting threads yield soon.

Call it at the top of a notebook, before NumPy, PyTorch or TensorFlow are imported: the
environment variables it sets are read when those libraries load (and by worker processes
started later). A library already loaded is resized in place where it allows it: BLAS through
threadpoolctl, PyTorch's intra-op pool; TensorFlow's pools are fixed once it has run an op.

A variable already set by whoever started the process (the grader starts its kernels with
OMP_NUM_THREADS=1) is a ceiling the helper keeps.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

# Read when each library loads: OpenMP (PyTorch's CPU pool, and MKL), OpenBLAS (NumPy's
# wheels), MKL, BLIS, Apple's Accelerate, numexpr, TensorFlow's pool for one op. (The
# inter-op pools, which run independent ops side by side and sleep when idle, are left as
# they are: TensorFlow can deadlock with a single inter-op thread.)
POOL_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
)
# How waiting threads wait: OpenMP's sleep instead of spinning (GNU and LLVM runtimes read
# OMP_WAIT_POLICY), OpenBLAS's spin before sleeping cut to 2**4 cycles, its least (the
# default is 2**28, about 0.1 s on a 2.5 GHz core).
WAIT_VARIABLES = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}
CGROUP_FS = Path("/sys/fs/cgroup")


def cpu_quota(proc_cgroup: Path = Path("/proc/self/cgroup"), fs: Path = CGROUP_FS) -> float | None:
    """The CPUs' worth of time this process's cgroup (or one above it) may use per period,
    e.g. 1.5; None without a quota or where none can be read (not Linux, no cgroup fs)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    quotas = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2: "max 100000" or "150000 100000" in cpu.max
            folders = [fs / path.lstrip("/")]
            read = _v2_quota
        elif "cpu" in controllers.split(","):  # v1: cpu.cfs_quota_us (-1: none) and period
            folders = [fs / name / path.lstrip("/") for name in ("cpu", controllers)]
            read = _v1_quota
        else:
            continue
        for folder in folders:
            for level in (folder, *folder.parents):  # a limit set higher up holds too
                if level == fs.parent:
                    break
                quota = read(level)
                if quota is not None:
                    quotas.append(quota)
    return min(quotas) if quotas else None


def _v2_quota(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        return None


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def usable_cpus() -> int:
    """The CPUs this process may use: its affinity mask's size, and no more than its cgroup's
    quota rounded up; at least 1."""
    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    count = len(affinity) if affinity else (os.cpu_count() or 1)
    quota = cpu_quota()
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


def limit_threads(threads: int | None = None, quiet: bool = False) -> int:
    """Size BLAS's, PyTorch's and TensorFlow's thread pools to `threads` (default: the CPUs
    this process may use, or fewer where OMP_NUM_THREADS was already set lower), and make
    their waiting threads sleep. Returns the number; prints one line unless `quiet`."""
    usable = usable_cpus()
    chosen = usable if threads is None else threads
    if chosen < 1:
        raise ValueError(f"threads must be 1 or more, got {threads}")
    ceiling = os.environ.get("OMP_NUM_THREADS", "")
    if ceiling.isdigit() and int(ceiling) >= 1:
        chosen = min(chosen, int(ceiling))
    for name in POOL_VARIABLES:
        os.environ[name] = str(chosen)
    for name, value in WAIT_VARIABLES.items():
        os.environ.setdefault(name, value)
    loaded = _resize_loaded(chosen)
    if not quiet:
        also = f"; resized in place: {', '.join(loaded)}" if loaded else ""
        print(
            f"Thread pools: {chosen} thread(s) each (this process may use {usable} of the "
            f"machine's {os.cpu_count()} CPUs){also}"
        )
    return chosen


def _resize_loaded(threads: int) -> list[str]:
    """Resize the pools of libraries loaded before the call; the names of those resized."""
    resized = []
    if "numpy" in sys.modules:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # without it, NumPy keeps the pool it loaded with
            pass
        else:
            threadpool_limits(limits=threads)  # stays in force: not used as a context manager
            resized.append("BLAS")
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.set_num_threads(threads)
        resized.append("PyTorch")
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            resized.append("TensorFlow")
        except RuntimeError:  # its runtime has started: the pools are fixed
            pass
    return resized
