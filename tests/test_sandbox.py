"""The sandbox probe: it tries each kind of isolation for real, and says plainly what is
missing (simulated here with stand-in bwrap programs and cgroup folders)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import REPO_ROOT
from autograder.grading import api, cli
from autograder.grading.isolation import cgroups, mounts, sandbox

HAVE_ROOT_AND_BWRAP = os.geteuid() == 0 and shutil.which("bwrap") is not None


@pytest.mark.skipif(
    not HAVE_ROOT_AND_BWRAP, reason="needs root and bubblewrap (.ci/run installs it)"
)
def test_this_machine_offers_full_isolation():
    """On a CI machine (root, bubblewrap installed, cgroup v1), is every capability found?"""
    capabilities = sandbox.probe()
    assert sandbox.missing(capabilities) == [], sandbox.report(capabilities)
    assert sandbox.main() == 0


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")
def test_sandbox_is_read_only_private_and_offline():
    """Inside the sandbox: is the host read-only, /tmp private, and a server listening on the
    host's loopback out of reach (while the same connection works outside)?"""
    marker = f"/tmp/cs231n-sandbox-{os.getpid()}"
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        connect = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)"
        python = sys.executable  # shown in the sandbox: the grader's Python installation
        outside = subprocess.run([python, "-c", connect], capture_output=True, timeout=30)
        script = (
            f"touch {marker}; touch /etc/cs231n-probe 2>/dev/null && echo WROTE-ETC; "
            f"touch /cs231n-probe 2>/dev/null && echo WROTE-ROOT; "
            f"{python} -c 'print(\"python\")'; "
            f'{python} -c "{connect}" 2>/dev/null && echo REACHED-HOST; echo done'
        )
        result = subprocess.run(
            sandbox.bwrap_command(["sh", "-c", script]), capture_output=True, text=True, timeout=60
        )
    assert outside.returncode == 0
    assert result.stdout.split() == ["python", "done"], result.stdout + result.stderr
    assert not os.path.exists(marker)  # the sandbox's /tmp was its own


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")
def test_the_sandbox_shows_only_its_allow_list():
    """Does the sandbox show of the host only the system's programs and libraries, the files
    of /etc it names and the Python installation: no home folder, /srv, /opt, /var, /mnt or
    /run, no /etc/shadow or private keys, nothing of the checkout but the environment?"""
    python = sys.executable
    absent = ["/etc/shadow", "/etc/ssl/private", "/etc/passwd", "/srv", "/var", "/mnt", "/run",
              str(REPO_ROOT / "solutions"), str(REPO_ROOT / "autograder")]  # fmt: skip
    absent += [p for p in ("/home", "/opt") if not any(
        Path(x).is_relative_to(p) for x in mounts.python_prefixes())]  # fmt: skip
    code = (
        "import json, os\n"
        f"print(json.dumps([sorted(os.listdir('/')), sorted(os.listdir('/etc')), "
        f"[p for p in {absent!r} if os.path.lexists(p)], sorted(os.listdir('/usr/src'))]))"
    )
    result = subprocess.run(
        sandbox.bwrap_command(["--", python, "-c", code]), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    top, etc, present, usr_src = json.loads(result.stdout)
    system = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc", "tmp"}
    python_tops = {p.parts[1] for p in mounts.python_prefixes()}
    assert set(top) <= system | python_tops, top
    assert set(etc) <= {name.split("/")[0] for name in mounts.ETC}, etc
    assert "ld.so.cache" in etc and present == [] and usr_src == []


def fake_bwrap(tmp_path, monkeypatch, body: str):
    program = tmp_path / "bwrap"
    program.write_text("#!/bin/sh\n" + body + "\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def test_missing_bubblewrap_is_reported_with_the_fix(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    bwrap, network = sandbox.probe_bubblewrap()
    assert not bwrap.available and "apt-get install bubblewrap" in bwrap.detail
    assert not network.available


def test_blocked_user_namespaces_mention_apparmor(tmp_path, monkeypatch):
    """A bwrap that cannot set up its namespaces (Ubuntu 24.04's AppArmor): is that said?"""
    fake_bwrap(
        tmp_path, monkeypatch, 'echo "bwrap: setting up uid map: Permission denied" >&2; exit 1'
    )
    bwrap, _ = sandbox.probe_bubblewrap()
    assert not bwrap.available and "AppArmor" in bwrap.detail and "uid map" in bwrap.detail


def test_a_sandbox_that_still_sees_the_network_is_not_isolated(tmp_path, monkeypatch):
    table = "Inter-|\\n face |\\n    lo: 0\\n  eth0: 0\\n"
    fake_bwrap(tmp_path, monkeypatch, f'[ "$1" = --version ] && echo fake || printf "{table}"')
    bwrap, network = sandbox.probe_bubblewrap()
    assert bwrap.available and not network.available and "eth0" in network.detail


def test_cgroup_that_is_missing_or_lacks_controllers(tmp_path, monkeypatch):
    """Is a host without cgroups, or whose cgroup2 lacks memory and pids, reported so?"""
    monkeypatch.setenv("CS231N_CGROUP_ROOT", str(tmp_path))
    try:
        gone = sandbox.probe_cgroup()
        assert not gone.available and "no cgroup2 mount" in gone.detail
        (tmp_path / "cgroup.controllers").write_text("cpu io")
        v2 = sandbox.probe_cgroup()
        assert not v2.available and "lacks memory and pids" in v2.detail
    finally:
        cgroups.chosen.cache_clear()  # the real host's choice for later tests


def test_without_root_uids_are_not_separate(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert not sandbox.probe_uids().available


# A machine without bubblewrap: only the `uid` level (and none) is left.
NO_BUBBLEWRAP = [
    sandbox.Capability("bubblewrap", False, "not installed"),
    sandbox.Capability("no network", False, "needs bubblewrap"),
    sandbox.Capability("cgroup", True, "ok"),
    sandbox.Capability("separate uids", True, "ok"),
    sandbox.Capability("rlimits", True, "ok"),
]


def test_report_names_the_levels_left_and_what_they_do_not_protect():
    """Without bubblewrap: is the sandbox missing, and `uid` the only weaker level offered,
    with what it does not protect?"""
    capabilities = NO_BUBBLEWRAP
    assert sandbox.missing(capabilities) == ["bubblewrap", "no network"]
    assert sandbox.available_levels(capabilities) == [sandbox.Isolation.UID, "none"]
    text = sandbox.report(capabilities)
    assert "[NO] bubblewrap" in text and "sandbox: NOT available (missing: bubblewrap" in text
    assert "namespaces: NOT available" in text and "  uid: available" in text
    assert "Weaker levels available: uid." in text and "no network isolation" in text


def test_grading_refuses_a_missing_level_and_names_the_weaker_ones(monkeypatch, capsys):
    """Without bubblewrap, does `cs231n-grade` refuse the sandbox and namespaces levels,
    offering `uid` (and only that), and grade at `uid` when asked?"""
    capabilities = NO_BUBBLEWRAP
    monkeypatch.setattr(sandbox, "probe", lambda: capabilities)
    for level in ("sandbox", "namespaces"):
        args = cli.parse(["subs", "--out", "out", "--isolation", level])
        with pytest.raises(api.GradingRefused) as refused:
            api.isolation(args.settings)
        message = str(refused.value)
        assert f"level '{level}' (missing: bubblewrap, no network)" in message
        assert "--isolation uid (weaker" in message and "namespaces (weaker" not in message
    args = cli.parse(["subs", "--out", "out", "--isolation", "uid"])
    assert api.isolation(args.settings) is sandbox.Isolation.UID
    assert "no network isolation" in capsys.readouterr().err
