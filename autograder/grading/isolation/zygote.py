"""The warm server's own code: runs as root in a sandbox of its own (`warm.py` starts it with
`python -c` and this file's text), imports a notebook's modules once and forks one kernel
per request. Standard library only: nothing of the course but what the kernel's view shows.

    python -c "$(cat zygote.py)" CONFIG_JSON      # run by warm.WarmServer, never by hand

CONFIG_JSON: {"modules": [...], "path": [...], "control": "<socket path>"}. On stdout, one
line: {"ready": true, ...} once the modules are imported and the server listens, or
{"ready": false, "unsafe": module, "why": ...} when importing a module started a thread (a
thread does not survive fork(): a lock it held stays held in every kernel) or left a file
open (every kernel would share it): the grader starts it again without that module.

Each request on the control socket (one JSON line: the kernel's connection file, the
student's scratch folder, uid, cgroup files, tmpfs size, environment) forks:
- A, root: joins the kernel's cgroups, unshares the mount, PID, network, IPC, UTS and cgroup
  namespaces, mounts a private /tmp, /dev/shm and /dev/pts, hides the folder of every other
  kernel's scratch and the server's socket, shows its own cgroup read-only at /sys/fs/cgroup
  (hiding the grader's), brings up its loopback; forks B, then waits for it and holds the
  request's connection open: the grader sees B's end as the connection's.
- B, PID 1 of the new PID namespace: mounts its /proc, starts a session, forks C and reaps
  orphans until C ends.
- C, the kernel: no file but stdin/out/err (/dev/null) and what the
  kernel opens, the student's uid with no groups or capabilities and no way to gain any
  (no_new_privs), the request's environment alone, fresh random seeds, then ipykernel.
The server itself never runs a line of a notebook, so every kernel starts from the same
state: what the imports left.
"""

import ctypes
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import time

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_NAME, PR_SET_NO_NEW_PRIVS = 15, 38
KERNEL_NAME = "cs231n-kernel"  # what ps and top show for a forked kernel (its own cmdline is ours)
CAPABILITY_VERSION_3 = 0x20080522
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 1
MAX_REQUEST = 1 << 16
# What a kernel imports to start, imported once here: ipykernel's app, and what its start adds
# (the shell, its debugger with debugpy and pydevd, completion, history in sqlite), 0.3-0.5 s
# of every kernel's start when each kernel imported them itself.
KERNEL_MODULES = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",
    "IPython.core.debugger",
    "IPython.core.completerlib",
    "IPython.extensions.storemagic",
    "psutil",
    "sqlite3",
    "tornado.platform.asyncio",
)
IMPORTS_ENV: dict[str, str] = {}  # what the imports set in the environment (debugpy sets one)

libc = ctypes.CDLL(None, use_errno=True)


def _checked(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def mount(source, target, fstype=None, flags=0, data=None) -> None:
    def encode(value):
        return None if value is None else str(value).encode()

    arguments = encode(source), encode(target), encode(fstype), flags, encode(data)
    _checked(libc.mount(*arguments), f"mount {target}")


def read_only(target) -> None:
    """Make the mount at `target` read-only (this mount only, not its source)."""
    mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def no_capabilities() -> None:
    """capset(2): no effective, permitted or inheritable capability (version 3: two words)."""
    header = struct.pack("Ii", CAPABILITY_VERSION_3, 0)
    _checked(libc.capset(header, bytes(24)), "capset")


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))


def isolate(request: dict, control: str) -> None:
    """A's part: the kernel's cgroups, namespaces and mounts (see the module's docstring)."""
    for procs in request["cgroup_procs"]:
        with open(procs, "w") as f:
            f.write("0")  # this process, and so everything it starts
    spaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    _checked(libc.unshare(spaces | CLONE_NEWCGROUP), "unshare")
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    loopback_up()
    scratch = request["scratch"]
    held = os.open(scratch, os.O_PATH | os.O_DIRECTORY)  # kept through the tmpfs below
    # What the view shows inside /tmp and /dev/shm (a course or an environment kept in /tmp,
    # a hidden folder in it), held now and shown again, read-only, on the new tmpfs
    again = [
        (path, os.open(path, os.O_PATH) if kind == "bind" else None)
        for path, kind in request["under_tmp"]
    ]
    size = int(request["tmp_bytes"])
    for place in ("/tmp", "/dev/shm"):
        mount("tmpfs", place, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size}")
    for path, fd in again:
        os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
        if fd is None:
            os.makedirs(path, 0o755, exist_ok=True)
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=65536")
            continue
        if not os.path.exists(path):
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.mkdir(path, 0o755)
            else:
                open(path, "w").close()
        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        read_only(path)
        os.close(fd)
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666")
    mount("/dev/pts/ptmx", "/dev/ptmx", None, MS_BIND)
    # The folder of every kernel's scratch and the server's socket, empty but for this one's
    # (it is in the new /tmp, as a cold kernel's scratch is, or hidden where it is)
    folder = os.path.dirname(control)
    os.makedirs(folder, 0o755, exist_ok=True)
    mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=65536")
    os.mkdir(scratch, 0o700)
    mount(f"/proc/self/fd/{held}", scratch, None, MS_BIND)
    os.close(held)
    read_only(folder)
    for source, target in request["cgroup_binds"]:  # over the grader's subtree: hides it
        mount(source, target, None, MS_BIND)
        read_only(target)


def become_kernel(request: dict) -> None:
    """C's part: the student's uid and environment, then ipykernel; never returns."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    uid = int(request["uid"])
    if uid <= 0:
        os._exit(70)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    libc.prctl(PR_SET_NAME, KERNEL_NAME.encode(), 0, 0, 0)  # a name for people, not a check
    no_capabilities()  # the uid change emptied the others; the inheritable set too
    _checked(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.update(IMPORTS_ENV)  # as if imported after: a cold kernel's environment
    os.chdir("/tmp")
    os.environ["PWD"] = "/tmp"
    del sys.path[0]  # python -c's "": ipykernel_launcher takes the working folder out too
    import random

    random.seed()  # the server's seeds were drawn once; each kernel draws its own
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    sys.argv = ["ipykernel_launcher", "-f", request["connection_file"]]
    from ipykernel import kernelapp

    try:
        kernelapp.launch_new_instance()
    finally:
        os._exit(0)


def init(request: dict) -> None:
    """B's part: PID 1 of the kernel's namespace; its /proc, then C, reaping until C ends."""
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.setsid()  # a session of the namespace's own, as bubblewrap's --new-session makes
    kernel = os.fork()
    if kernel == 0:
        become_kernel(request)
    while True:
        pid, status = os.wait()
        if pid == kernel:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def serve_one(connection: socket.socket, request: dict, control: str) -> None:
    """A: runs in the forked child of the server, never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server's SIG_IGN: A and B wait
    try:
        isolate(request, control)
        namespace_init = os.fork()
        if namespace_init == 0:
            connection.close()
            init(request)
        connection.sendall(b'{"forked": true}\n')
        _, status = os.waitpid(namespace_init, 0)
        end = {"ended": os.waitstatus_to_exitcode(status)}
        connection.sendall(json.dumps(end).encode() + b"\n")
    except BaseException as error:  # noqa: BLE001 - told to the grader, which starts cold
        try:
            where = error.__traceback__
            while where.tb_next is not None:
                where = where.tb_next
            told = f"{error!r} at zygote.py line {where.tb_lineno}"
            connection.sendall(json.dumps({"error": told}).encode() + b"\n")
        except OSError:
            pass
    finally:
        os._exit(0)


def read_request(connection: socket.socket) -> dict:
    data = b""
    while not data.endswith(b"\n") and len(data) < MAX_REQUEST:
        chunk = connection.recv(MAX_REQUEST)
        if not chunk:
            break
        data += chunk
    return json.loads(data)


def serve(listener: socket.socket, control: str) -> None:
    """Fork a kernel per request until the grader closes stdin (it ended, or closed us)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the A processes are reaped by the kernel
    while True:
        ready, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in ready and not sys.stdin.buffer.read1(1):
            # Nothing to flush; a normal exit tears every imported module down, which took
            # seconds with torch or TensorFlow loaded while a grader's worker waited for it.
            os._exit(0)
        if listener not in ready:
            continue
        connection, _ = listener.accept()
        try:
            request = read_request(connection)
        except (OSError, ValueError):
            connection.close()
            continue
        if os.fork() == 0:
            listener.close()
            serve_one(connection, request, control)
        connection.close()


def open_files() -> list[str]:
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if int(fd) > 2:
                found.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:  # the listing's own descriptor, closed by now
            pass
    return found


def main() -> None:
    config = json.loads(sys.argv[1])
    sys.path.extend(config.get("path", []))
    started = time.monotonic()
    imported, failed = [], {}
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # pydevd's warning, on import
    before = dict(os.environ)
    for name in [*KERNEL_MODULES, *config["modules"]]:
        try:
            __import__(name)
            imported.append(name)
        except Exception as error:  # the notebook's own import will say it, in its cell
            failed[name] = repr(error)
        threads, files = len(os.listdir("/proc/self/task")), open_files()
        if threads != 1 or files:  # this import is not fork-safe: the grader leaves it out
            why = f"importing {name} started {threads - 1} thread(s), left files open {files}"
            print(json.dumps({"ready": False, "unsafe": name, "why": why}), flush=True)
            return
    IMPORTS_ENV.update((k, v) for k, v in os.environ.items() if before.get(k) != v)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(config["control"])
    listener.listen(16)
    seconds = time.monotonic() - started
    report = {"ready": True, "modules": imported, "failed": failed, "seconds": seconds}
    print(json.dumps(report), flush=True)
    serve(listener, config["control"])


if __name__ == "__main__":
    main()
