"""A fork server for local pipeline steps.

KFP's subprocess runner starts a fresh Python for every step, and each one spends most of
its life importing kfp, pandas and scikit-learn again (about 0.7 s a step on iris, more than
the work). The zygote imports them once; a step's `python3` becomes a tiny launcher that
hands its argv, environment and standard streams to the zygote, which forks a child to run
`python -m kfp.dsl.executor_main` exactly as the runner would. Each step still gets its own
process, so a crash or an exit code behaves as with the runner alone.

The zygote stays single-threaded: forking a process with other threads can copy a held lock.

Nothing outlives the run that started it. The zygote leads its own process group and dies
with the process that started it (PR_SET_PDEATHSIG), taking the group along; a step joins
the process group its run names (MLCD_STEP_PGID), so stopping the run's group stops the
step; every supervisor and step dies with its parent; and a step that outlasts
MLCD_STEP_TIMEOUT_SECONDS is killed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys

# Not kfp.dsl.executor_main itself: runpy warns when the module it runs was imported before.
PRELOAD = (
    "kfp.dsl.executor", "kfp.dsl.kfp_config", "pandas", "pyarrow.parquet", "sklearn.ensemble", "sklearn.linear_model",
    "sklearn.pipeline", "sklearn.compose", "sklearn.preprocessing", "sklearn.impute", "sklearn.metrics",
    "sklearn.model_selection", "sklearn.datasets", "joblib", "mlcd.storage", "mlcd.catalog", "mlcd.drift",
    "mlcd_components.ingest", "mlcd_components.check_data", "mlcd_components.train",
    "mlcd_components.evaluate", "mlcd_components.gate", "mlcd_components.register", "mlcd_components.drift_check",
)
SOCKET_ENV = "MLCD_ZYGOTE_SOCKET"
REAL_PYTHON_ENV = "MLCD_ZYGOTE_PYTHON"
PID_ENV = "MLCD_ZYGOTE_PID"
PARENT_ENV = "MLCD_ZYGOTE_PARENT"
STEP_PGID_ENV = "MLCD_STEP_PGID"
STEP_TIMEOUT_ENV = "MLCD_STEP_TIMEOUT_SECONDS"
_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int, parent: int) -> None:
    """Have the kernel send `sig` to this process when its parent ends; if it already has, end now."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    header, fds, _flags, _addr = socket.recv_fds(conn, 8, 3)
    (length,) = struct.unpack("!Q", header)
    body = b""
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise ConnectionError("launcher went away")
        body += chunk
    return json.loads(body), fds


def _child(request: dict, fds: list[int]) -> None:
    """Become the step's process: its streams, directory, environment and argv."""
    import runpy
    import tempfile

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # the step's TMPDIR, not the zygote's
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    group = request["env"].get(STEP_PGID_ENV)
    if group:
        try:
            os.setpgid(0, int(group))
        except (OSError, ValueError):  # the run's group is gone: the run was stopped before the step began
            os._exit(143)
    sys.argv = [request["argv"][0], *request["argv"][1:]]
    code = 0
    try:
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # the step's own failure: report it as Python would, then exit 1
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _end_group(*_) -> None:
    """Stop everything the zygote started (its group), itself included."""
    os.killpg(os.getpid(), signal.SIGKILL)


def serve(path: str) -> None:
    parent = int(os.environ.get(PARENT_ENV) or os.getppid())
    die_with_parent(signal.SIGTERM, parent)
    signal.signal(signal.SIGTERM, _end_group)
    for module in PRELOAD:
        __import__(module)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(16)  # listening before the path appears: a step that finds it never gets ECONNREFUSED
    os.rename(path + ".tmp", path)  # the socket appears only once the imports are done
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    while True:
        conn, _ = listener.accept()
        try:
            request, fds = _recv_request(conn)
        except (OSError, ValueError, ConnectionError):
            conn.close()
            continue
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            _supervise(conn, request, fds)
        for fd in fds:
            os.close(fd)
        conn.close()


def _supervise(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """Fork the step, wait for it (at most its time limit) and tell the launcher its exit code."""
    zygote = os.getppid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    die_with_parent(signal.SIGKILL, zygote)
    me = os.getpid()
    pid = os.fork()
    if pid == 0:
        conn.close()
        die_with_parent(signal.SIGKILL, me)
        _child(request, fds)
    stderr = os.dup(fds[2])
    for fd in fds:
        os.close(fd)
    limit = float(request["env"].get(STEP_TIMEOUT_ENV) or 0)
    timed_out = []

    def time_up(*_) -> None:
        timed_out.append(True)
        os.kill(pid, signal.SIGKILL)

    if limit > 0:
        signal.signal(signal.SIGALRM, time_up)
        signal.setitimer(signal.ITIMER_REAL, limit)
    _, status = os.waitpid(pid, 0)
    signal.setitimer(signal.ITIMER_REAL, 0)
    if timed_out:
        os.write(stderr, f"StepTimeoutError: the step ran longer than its limit of {limit:g}s and was "
                         "stopped\n".encode())
    try:
        conn.sendall(struct.pack("!i", os.waitstatus_to_exitcode(status)))
    finally:
        os._exit(0)


LAUNCHER = """#!{python} -S
import sys
sys.path.insert(0, {root!r})
from mlcd.backends.zygote import launch
sys.exit(launch(sys.argv[1:]))
"""


def write_launcher(path: str) -> str:
    """An executable that stands where the runner expects `python3`."""
    import mlcd

    root = os.path.dirname(os.path.dirname(os.path.abspath(mlcd.__file__)))
    with open(path, "w") as fh:
        fh.write(LAUNCHER.format(python=sys.executable, root=root))
    os.chmod(path, 0o755)
    return path


def _wait_for(path: str, pid: int) -> bool:
    """The zygote may still be importing when the first step starts: wait while it lives."""
    import time

    deadline = time.monotonic() + 30
    while path and not os.path.exists(path):
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return bool(path)


def launch(argv: list[str]) -> int:
    """The launcher's side: `launcher -m MODULE ARGS...` runs in the zygote, or in a real Python."""
    # Steps die with the run that started them, here or in the real Python below (the flag survives exec).
    die_with_parent(signal.SIGKILL, os.getppid())
    path = os.environ.get(SOCKET_ENV, "")
    if len(argv) < 2 or argv[0] != "-m" or not _wait_for(path, int(os.environ.get(PID_ENV) or 0)):
        real = os.environ.get(REAL_PYTHON_ENV) or sys.executable
        os.execv(real, [real, *argv])
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    body = json.dumps({"module": argv[1], "argv": [argv[1], *argv[2:]], "cwd": os.getcwd(),
                       "env": dict(os.environ)}).encode()
    socket.send_fds(conn, [struct.pack("!Q", len(body))], [0, 1, 2])
    conn.sendall(body)
    reply = b""
    while len(reply) < 4:
        chunk = conn.recv(4 - len(reply))
        if not chunk:
            return 1
        reply += chunk
    (code,) = struct.unpack("!i", reply)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    serve(sys.argv[1])
