"""One configuration for cs231n-grade: every setting a grading run takes, documented once.

A setting's value comes from, strongest first: its command-line flag, its environment variable
(CS231N_GRADE_<NAME>, e.g. CS231N_GRADE_WORKERS=4), the TOML file (--config FILE, else
$CS231N_GRADE_CONFIG, else OUT/cs231n-grade.toml when it exists, so a term's choices stay
with its grading folder), and the default below. `cs231n-grade --print-config` shows the
effective values and where each came from, as a TOML file that can be kept and edited.

Inputs that name one run (SUBMISSIONS, --students, --force, --references, --expect) and the
flag that grades without a sandbox are not settings: running student code unisolated is a
choice made on the command line each time, never by a file or the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import textwrap
import tomllib
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

from autograder import similarity
from autograder.grading.isolation import sandbox

ENV_PREFIX = "CS231N_GRADE_"
CONFIG_ENV = "CS231N_GRADE_CONFIG"
IN_OUT = "cs231n-grade.toml"
LEVELS = [level for level in sandbox.Isolation if level is not sandbox.Isolation.NONE]


class ConfigError(ValueError):
    """A setting that cannot be used, with where it came from."""


@dataclass(frozen=True)
class Setting:
    name: str  # the TOML key; the flag is --name with "-" for "_"
    kind: type  # int, float, str, bool, Path or sandbox.Isolation
    default: object
    doc: str
    flag: str = ""  # the flag where it is not --name (--no-reasons for reasons=false)
    metavar: str = ""  # the flag's value in --help, where not N (int) or X (float)

    @property
    def option(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


def setting(default: object, doc: str, flag: str = "", metavar: str = ""):
    """A GraderConfig field: its default, and what --help and --print-config say of it."""
    return field(default=default, metadata={"doc": doc, "flag": flag, "metavar": metavar})


@dataclass
class GraderConfig:
    """The settings of one run, each declared once: its type, default and meaning. Without
    arguments: the defaults (config.load() adds the environment and the file)."""

    workers: int = setting(
        os.cpu_count() or 1, "notebooks graded at once on this machine (without --scheduler)"
    )
    isolation: sandbox.Isolation = setting(
        sandbox.Isolation.SANDBOX,
        "sandbox (the default), or a weaker level where it is not available: namespaces, "
        "uid (--check-sandbox says what each protects)",
    )
    cell_timeout: float = setting(120.0, "seconds per cell")
    notebook_timeout: float = setting(900.0, "seconds per notebook, in all")
    memory_mb: int = setting(4096, "memory cap per notebook, in MiB")
    processes: int = setting(256, "process cap per notebook")
    reasons: bool = setting(
        True,
        "say why a visible check failed, from a run that saw no hidden test (reasons.py); "
        "the flag turns it off",
        "--no-reasons",
    )
    warm_kernels: bool = setting(
        True,
        "fork each kernel from a server that has imported its notebook's modules once "
        "(`sandbox` level; warm.py); the flag starts every kernel cold",
        "--cold-kernels",
    )
    progress: bool = setting(True, "show progress bars; the flag turns them off", "--no-progress")
    scheduler: str | None = setting(
        None,
        "grade on this Dask scheduler's workers (see README); OUT stays here",
        metavar="tcp://HOST:PORT",
    )
    db: str | None = setting(
        None, "SQLAlchemy URL of the gradebook (default: OUT/gradebook.db)", metavar="URL"
    )
    roster: Path | None = setting(
        None,
        "CSV of students' names and emails (nbgrader db student import: id,first_name,...)",
        metavar="CSV",
    )
    canvas_gradebook: Path | None = setting(
        None, "Canvas gradebook export: the column to import into", metavar="CSV"
    )
    canvas_assignment: str | None = setting(None, "that column's name in it", metavar="NAME")
    due: str | None = setting(None, "due date, e.g. 2026-03-14T23:59+00:00", metavar="ISO8601")
    late_policy: str | None = setting(
        None,
        "points off per day late, and after how many days a zero; none by default",
        metavar="P/day[,zero-after=D]",
    )
    output_mode: str | None = setting(
        None, "outputs' file mode, octal (default 640)", metavar="OCTAL"
    )
    similarity_threshold: float | None = setting(
        None, "report students this alike (0 to 1; default 0.8)", metavar="S"
    )


def _kind(annotation) -> type:
    """A field's type without its `| None`."""
    kinds = [k for k in typing.get_args(annotation) if k is not type(None)] or [annotation]
    return kinds[0]


_HINTS = typing.get_type_hints(GraderConfig)
SETTINGS = [
    Setting(f.name, _kind(_HINTS[f.name]), f.default, **f.metadata) for f in fields(GraderConfig)
]
BY_NAME = {s.name: s for s in SETTINGS}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Each setting's flag, with no default: an absent flag leaves the weaker sources in force."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="TOML",
        help=f"settings file (see --print-config; default ${CONFIG_ENV}, else OUT/{IN_OUT})",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="show every setting, its value and its source; exit",
    )
    for s in SETTINGS:
        if s.kind is bool:
            action = "store_false" if s.default else "store_true"  # the flag flips the default
            parser.add_argument(s.option, dest=s.name, action=action, default=None, help=s.doc)
        elif s.kind is sandbox.Isolation:
            parser.add_argument(
                s.option, dest=s.name, type=sandbox.Isolation, choices=LEVELS, help=s.doc
            )
        else:
            kind = similarity.parse_threshold if s.name == "similarity_threshold" else s.kind
            metavar = s.metavar or {int: "N", float: "X"}[s.kind]
            parser.add_argument(s.option, dest=s.name, type=kind, metavar=metavar, help=s.doc)


def convert(setting: Setting, value: object, where: str, base: Path | None = None) -> object:
    """`value` (a TOML value, or an environment variable's text) as the setting's type; a
    relative path in a file is taken from the file's folder (`base`)."""
    text = isinstance(value, str)
    try:
        if setting.kind is bool:
            if text and value.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if text and value.strip().lower() in ("0", "false", "no", "off"):
                return False
            if isinstance(value, bool):
                return value
        elif setting.kind is int and (text or type(value) is int):  # a bool is no count
            return int(value)
        elif setting.kind is float and (text or type(value) in (int, float)):
            number = float(value)
            if setting.name == "similarity_threshold":
                return similarity.parse_threshold(str(number))
            return number
        elif setting.kind is sandbox.Isolation and text and value in map(str, LEVELS):
            return sandbox.Isolation(value)
        elif setting.kind is Path and text:
            path = Path(value).expanduser()
            return base / path if base and not path.is_absolute() else path
        elif setting.kind is str and text:
            return value
    except (ValueError, argparse.ArgumentTypeError) as error:
        raise ConfigError(f"{setting.name} = {value!r} ({where}): {error}") from None
    wanted = (
        ", ".join(map(str, LEVELS)) if setting.kind is sandbox.Isolation else setting.kind.__name__
    )
    raise ConfigError(f"{setting.name} = {value!r} ({where}): expected {wanted}")


def config_file(args: argparse.Namespace, environ) -> Path | None:
    """The TOML file this run reads: --config, $CS231N_GRADE_CONFIG, or OUT's own."""
    if getattr(args, "config", None):
        return args.config
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    out = getattr(args, "out", None)
    return out / IN_OUT if out is not None and (out / IN_OUT).is_file() else None


def read_file(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read the settings file {path}: {error}") from None
    unknown = sorted(set(data) - set(BY_NAME))
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}"
        )
    return data


def resolve(args: argparse.Namespace, environ=None) -> tuple[GraderConfig, dict[str, str]]:
    """The effective settings and, for each, where its value came from. Raises ConfigError."""
    environ = os.environ if environ is None else environ
    path = config_file(args, environ)
    in_file = read_file(path) if path else {}
    values, sources = {}, {}
    for s in SETTINGS:
        flag, variable = getattr(args, s.name, None), ENV_PREFIX + s.name.upper()
        if flag is not None:
            values[s.name], sources[s.name] = flag, f"command line ({s.option})"
        elif environ.get(variable):
            values[s.name] = convert(s, environ[variable], f"${variable}")
            sources[s.name] = f"environment (${variable})"
        elif s.name in in_file:
            values[s.name] = convert(s, in_file[s.name], str(path), path.parent)
            sources[s.name] = f"file ({path})"
        else:
            values[s.name], sources[s.name] = s.default, "default"
    return GraderConfig(**values), sources


def show(config: GraderConfig, sources: dict[str, str]) -> str:
    """The settings as a TOML file: each with its meaning and source; unset ones commented."""
    lines = ["# cs231n-grade settings: the effective values, and where each came from"]
    for s in SETTINGS:
        value = getattr(config, s.name)
        doc = textwrap.wrap(s.doc, 94, break_on_hyphens=False)
        lines += ["", *(f"# {line}" for line in doc), f"# from: {sources[s.name]}"]
        if value is None:
            lines.append(f"# {s.name} =")
        elif isinstance(value, bool):
            lines.append(f"{s.name} = {str(value).lower()}")
        elif isinstance(value, (int, float)):
            lines.append(f"{s.name} = {value}")
        else:
            lines.append(f"{s.name} = {json.dumps(str(value))}")
    return "\n".join(lines) + "\n"


def load(out: Path | None = None, file: Path | None = None, environ=None) -> GraderConfig:
    """The settings of a run into `out` given no flags: the environment, the file, defaults."""
    return resolve(argparse.Namespace(out=out, config=file), environ)[0]
