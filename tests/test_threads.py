"""cs231n_utils.threads: the CPUs a process may use (affinity, cgroup quotas v1 and v2), and
pools sized to them in a fresh interpreter, before and after the libraries load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cs231n_utils import threads


def tree(tmp_path: Path, files: dict[str, str], cgroup: str) -> tuple[Path, Path]:
    """A fake cgroup file system (files: path -> content) and /proc/self/cgroup."""
    fs = tmp_path / "sys" / "fs" / "cgroup"
    for name, content in files.items():
        (fs / name).parent.mkdir(parents=True, exist_ok=True)
        (fs / name).write_text(content)
    proc = tmp_path / "cgroup"
    proc.write_text(cgroup)
    return proc, fs


def test_a_v2_quota_is_read_and_the_tightest_level_wins(tmp_path):
    proc, fs = tree(
        tmp_path,
        {"cpu.max": "max 100000\n", "a/cpu.max": "150000 100000\n", "a/b/cpu.max": "max 100000"},
        "0::/a/b\n",
    )
    assert threads.cpu_quota(proc, fs) == 1.5
    (fs / "cpu.max").write_text("50000 100000\n")  # a tighter limit above
    assert threads.cpu_quota(proc, fs) == 0.5


def test_no_quota_where_v2_says_max_or_nothing_can_be_read(tmp_path):
    proc, fs = tree(tmp_path, {"cpu.max": "max 100000\n"}, "0::/\n")
    assert threads.cpu_quota(proc, fs) is None
    assert threads.cpu_quota(tmp_path / "missing", fs) is None


def test_a_v1_quota_is_read_and_minus_one_is_none(tmp_path):
    files = {"cpu,cpuacct/job/cpu.cfs_quota_us": "250000\n",
             "cpu,cpuacct/job/cpu.cfs_period_us": "100000\n"}  # fmt: skip
    proc, fs = tree(tmp_path, files, "4:memory:/job\n3:cpu,cpuacct:/job\n")
    assert threads.cpu_quota(proc, fs) == 2.5
    (fs / "cpu,cpuacct/job/cpu.cfs_quota_us").write_text("-1\n")
    assert threads.cpu_quota(proc, fs) is None


def test_usable_cpus_is_the_affinity_capped_by_the_quota(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(threads, "cpu_quota", lambda: None)
    assert threads.usable_cpus() == 4
    monkeypatch.setattr(threads, "cpu_quota", lambda: 1.2)
    assert threads.usable_cpus() == 2
    monkeypatch.setattr(threads, "cpu_quota", lambda: 0.1)
    assert threads.usable_cpus() == 1


PROBE = """
import json, os, sys
{before}
from cs231n_utils.threads import limit_threads
n = limit_threads({args})
import numpy, torch
from threadpoolctl import threadpool_info
print(json.dumps({{"n": n, "blas": sorted({{p["num_threads"] for p in threadpool_info()
                                            if p["user_api"] == "blas"}}),
                  "torch": torch.get_num_threads(),
                  "env": {{k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS",
                         "TF_NUM_INTRAOP_THREADS", "OMP_WAIT_POLICY")}}}}))
"""


def probe(before: str = "", args: str = "", cpus: str = "0-1", env: dict | None = None) -> dict:
    """limit_threads in a fresh interpreter pinned to `cpus`; what each pool then holds."""
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_THREADS", "_POLICY"))}
    command = ["taskset", "-c", cpus, sys.executable, "-c", PROBE.format(before=before, args=args)]
    done = subprocess.run(command, capture_output=True, text=True, env=clean | (env or {}))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    return json.loads(lines[-1]) | {"printed": lines[0]}


needs_two = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")


@needs_two
def test_pools_loaded_after_the_call_take_the_affinity():
    one = probe(cpus="1")
    assert (one["n"], one["blas"], one["torch"]) == (1, [1], 1), one
    assert one["env"] == {"OPENBLAS_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1",
                          "OMP_WAIT_POLICY": "PASSIVE"}  # fmt: skip
    assert "1 thread(s) each" in one["printed"]
    two = probe(cpus="0-1")
    assert (two["n"], two["blas"], two["torch"]) == (2, [2], 2), two


@needs_two
def test_pools_loaded_before_the_call_are_resized():
    got = probe(before="import numpy, torch", args="1")
    assert (got["blas"], got["torch"]) == ([1], 1), got
    assert "resized in place: BLAS, PyTorch" in got["printed"]


@needs_two
def test_a_ceiling_set_by_whoever_started_the_process_holds():
    got = probe(env={"OMP_NUM_THREADS": "1"})
    assert (got["n"], got["blas"], got["torch"]) == (1, [1], 1), got


def test_zero_threads_is_refused():
    with pytest.raises(ValueError, match="1 or more"):
        threads.limit_threads(0, quiet=True)


HEAVY = ("numpy", "torch", "tensorflow", "keras", "matplotlib", "sklearn")  # load a BLAS


def test_every_notebook_limits_threads_before_a_framework_loads():
    """Does each solution notebook's setup cell call limit_threads(...) at top level before
    any statement that imports NumPy (directly or through matplotlib), PyTorch or TensorFlow?"""
    import ast

    import nbformat

    from autograder.course import SOLUTIONS, notebook_names

    for name in notebook_names():
        cells = nbformat.read(SOLUTIONS / name, as_version=4).cells
        setup = next(c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
        body = ast.parse(setup.source).body

        def imports_heavy(node) -> bool:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            return any(n.split(".")[0] in HEAVY for n in names)

        def calls_limit(node) -> bool:
            call = node.value if isinstance(node, ast.Expr) else None
            return isinstance(call, ast.Call) and getattr(call.func, "id", "") == "limit_threads"

        first_heavy = next(i for i, node in enumerate(body) if imports_heavy(node))
        limit = [i for i, node in enumerate(body) if calls_limit(node)]
        assert limit and limit[0] < first_heavy, (name, limit, first_heavy)
