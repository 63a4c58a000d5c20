"""cs231n-grade's settings (autograder/grading/config.py): one value per setting from the
strongest of flag, environment, file and default; --print-config says which, as a TOML file
that reads back to the same values; a bad value, key or file is refused with its source."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from autograder.grading import cli, config
from autograder.grading.isolation import sandbox

NAMES = [s.name for s in config.SETTINGS]


@pytest.fixture
def clean_env(monkeypatch):
    """No CS231N_GRADE_* variable of the machine running the tests leaks in."""
    import os

    for name in [n for n in os.environ if n.startswith(config.ENV_PREFIX)]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_each_setting_comes_from_the_strongest_source_and_says_which(tmp_path, clean_env):
    """Is a flag stronger than the environment, the environment than OUT's file, the file
    than the default, and is each value's source reported as such?"""
    out = tmp_path / "out"
    out.mkdir()
    (out / config.IN_OUT).write_text(
        'workers = 3\ncell_timeout = 30\nmemory_mb = 1024\nisolation = "uid"\nreasons = false\n'
    )
    clean_env.setenv("CS231N_GRADE_CELL_TIMEOUT", "45.5")
    clean_env.setenv("CS231N_GRADE_MEMORY_MB", "2048")
    args = cli.parse(["subs", "--out", str(out), "--memory-mb", "512"])
    settings, sources = args.settings, args.sources
    assert settings.workers == 3 and sources["workers"].startswith("file (")
    assert settings.cell_timeout == 45.5 and "$CS231N_GRADE_CELL_TIMEOUT" in sources["cell_timeout"]
    assert settings.memory_mb == 512 and sources["memory_mb"] == "command line (--memory-mb)"
    assert settings.isolation is sandbox.Isolation.UID and settings.reasons is False
    assert settings.processes == 256 and sources["processes"] == "default"


def test_the_printed_configuration_reads_back_to_the_same_settings(tmp_path, clean_env, capsys):
    """Is --print-config a TOML file with every setting (commented where unset) that, passed
    back with --config, gives the same values, all now from that file?"""
    roster = tmp_path / "roster.csv"
    argv = ["--print-config", "--workers", "5", "--no-progress", "--roster", str(roster),
            "--isolation", "namespaces", "--similarity-threshold", "0.7"]  # fmt: skip
    assert cli.main(argv) == 0
    shown = capsys.readouterr().out
    parsed = tomllib.loads(shown)
    assert parsed["workers"] == 5 and parsed["progress"] is False
    assert parsed["isolation"] == "namespaces" and parsed["roster"] == str(roster)
    assert "# db =" in shown and "db" not in parsed
    for s in config.SETTINGS:
        assert f"# {s.doc.split()[0]}" in shown, s.name  # each setting's meaning, once
    saved = tmp_path / "kept.toml"
    saved.write_text(shown)
    again = cli.parse(["--print-config", "--config", str(saved)])
    first = cli.parse(argv)
    assert again.settings == first.settings
    assert {again.sources[n] for n in parsed} == {f"file ({saved})"}


def test_a_relative_path_in_a_file_is_taken_from_the_files_folder(tmp_path, clean_env):
    (tmp_path / "term.toml").write_text('roster = "people/roster.csv"\n')
    args = cli.parse(["--print-config", "--config", str(tmp_path / "term.toml")])
    assert args.settings.roster == tmp_path / "people" / "roster.csv"


@pytest.mark.parametrize(
    "text, words",
    [
        ('workers = "two"\n', ["workers", "'two'", "term.toml"]),
        ("workers = true\n", ["workers", "expected int"]),
        ('isolation = "none"\n', ["isolation", "expected sandbox, namespaces, uid"]),
        ("unsafe = true\n", ["unknown setting(s) unsafe", "known: workers"]),
        ("similarity_threshold = 1.5\n", ["similarity_threshold", "at most 1"]),
        ("workers = \n", ["cannot read the settings file"]),
    ],
)
def test_a_bad_file_is_refused_with_the_setting_and_the_file(tmp_path, clean_env, capsys, text,
                                                            words):  # fmt: skip
    """Is a wrong type, an unknown key (the unsafe flag among them: running unisolated is never
    a file's choice), an out-of-range value or broken TOML an error that names them?"""
    (tmp_path / "term.toml").write_text(text)
    with pytest.raises(SystemExit) as stop:
        cli.parse(["--print-config", "--config", str(tmp_path / "term.toml")])
    assert stop.value.code == 2
    message = capsys.readouterr().err
    assert all(word in message for word in words), message


def test_a_bad_environment_value_is_refused_with_its_variable(clean_env, capsys):
    clean_env.setenv("CS231N_GRADE_REASONS", "maybe")
    with pytest.raises(SystemExit):
        cli.parse(["--print-config"])
    assert "$CS231N_GRADE_REASONS" in capsys.readouterr().err


def test_every_setting_has_a_flag_a_variable_and_a_typed_field(clean_env):
    """Can each setting be given on the command line and in the environment, and does the
    configuration hold a field of that name?"""
    parser = cli.argparse.ArgumentParser()
    config.add_arguments(parser)
    options = {o for action in parser._actions for o in action.option_strings}
    assert {s.option for s in config.SETTINGS} <= options
    for s in config.SETTINGS:
        value = {bool: "false", int: "7", float: "0.5", Path: "/x", str: "x"}.get(s.kind, "uid")
        clean_env.setenv(config.ENV_PREFIX + s.name.upper(), value)
    settings, sources = config.resolve(cli.argparse.Namespace(), environ=None)
    assert all(v.startswith("environment ($CS231N_GRADE_") for v in sources.values()), sources
    assert settings.workers == 7 and settings.reasons is False and settings.db == "x"
    assert list(sources) == NAMES
