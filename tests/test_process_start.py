"""What every grader process gets from `import autograder` (autograder/__init__.py): a start
without jsonschema's grammar parsers, and this environment's commands first on PATH."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from autograder.course import RELEASE, notebook_names

BIN = str(Path(sys.executable).parent)


def python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )


def test_nbformat_loads_without_the_iri_parsers_and_still_validates():
    """After `import autograder`, does nbformat come without rfc3987_syntax (about 1 s of
    parsers built at import) and still validate the release, and reject a broken notebook?
    Without `import autograder`, the same environment does load it."""
    first = RELEASE / notebook_names()[0]
    code = (
        "import sys, json, nbformat\n"
        f"nbformat.validate(nbformat.read({str(first)!r}, as_version=4))\n"
        "broken = json.loads(json.dumps({'nbformat': 4, 'nbformat_minor': 5, 'cells': [{}]}))\n"
        "try:\n    nbformat.validate(broken)\nexcept nbformat.ValidationError:\n"
        "    print('rejected')\n"
        "print(sys.modules.get('rfc3987_syntax') is not None)\n"
    )
    trimmed = python("import autograder\n" + code)
    plain = python(code)
    assert trimmed.stdout.split() == ["rejected", "False"], trimmed.stderr
    assert plain.stdout.split() == ["rejected", "True"], plain.stderr


def test_a_gradebook_is_created_with_the_environment_not_activated(tmp_path):
    """With PATH lacking this environment's bin/ (a grader started by its full path), can
    nbgrader create a gradebook (it starts `alembic` by name) once autograder is imported,
    where it cannot without?"""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    create = "from nbgrader.api import Gradebook\nGradebook('sqlite:///{}').close()\n"
    made = python("import autograder\n" + create.format(tmp_path / "a.db"), env)
    assert made.returncode == 0, made.stderr[-2000:]
    assert (tmp_path / "a.db").stat().st_size > 0
    if subprocess.run(["sh", "-c", "command -v alembic"], env=env).returncode != 0:
        failed = python(create.format(tmp_path / "b.db"), env)
        assert "alembic" in failed.stderr and failed.returncode != 0
