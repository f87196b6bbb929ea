"""Run a compiled pipeline with KFP's local runner, every file kept under $MLCD_HOME."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

from mlcd.backends.result import RunResult, StepRecord, decide
from mlcd.home import mlcd_home
from mlcd_components.progress import parse

log = logging.getLogger(__name__)


# Steps never import from the folder they were started in: a directory named like a package there
# (a checkout's parent holds `mlcd/`) would shadow the installed one (PYTHONSAFEPATH, Python 3.11).
STEP_ENV = {"PYTHONSAFEPATH": "1"}


class _EventStream(io.TextIOBase):
    """Stands in for stdout while kfp.local runs: turns step markers into progress, keeps the rest."""

    def __init__(self, on_event: Callable[[dict], None]):
        self._buffer = ""
        self._on_event = on_event
        self.lines: list[str] = []

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        *complete, self._buffer = self._buffer.split("\n")
        for line in complete:
            event = parse(line)
            if event:
                self._on_event(event)
            elif line.strip():
                self.lines.append(line)
        return len(text)


class Progress:
    """Collects step events; prints a line as each step starts and ends."""

    def __init__(self, out=None, on_event: Callable[[dict], None] | None = None):
        self.out = out
        self.on_event = on_event
        self.steps: dict[str, StepRecord] = {}
        self.failure = ""
        self._started: dict[str, float] = {}

    def __call__(self, event: dict) -> None:
        name, kind = event.get("step", "?"), event.get("event")
        if self.on_event is not None:
            self.on_event(event)
        if kind == "start":
            self._started[name] = time.perf_counter()
            self.steps[name] = StepRecord(name)
            self._print(f"  ▶ {name}")
        elif kind in ("end", "failed"):
            record = self.steps.setdefault(name, StepRecord(name))
            record.seconds = round(time.perf_counter() - self._started.get(name, time.perf_counter()), 3)
            record.status = "succeeded" if kind == "end" else "failed"
            record.message = event.get("message", "")
            mark = "✔" if kind == "end" else "✘"
            self._print(f"  {mark} {name} {record.seconds:.2f}s" + (f": {record.message}" if record.message else ""))
            if kind == "failed" and not self.failure:
                self.failure = f"{name}: {record.message}"

    def _print(self, line: str) -> None:
        if self.out is not None:
            print(line, file=self.out, flush=True)


def _pipeline_spec(ir: dict):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    return json_format.ParseDict(ir, pipeline_spec_pb2.PipelineSpec())


@contextlib.contextmanager
def _scratch(tmp: Path):
    """Tasks inherit TMPDIR; kfp.local and its tasks would otherwise leave files in /tmp.

    Each step's `mktemp -d` leaves a folder behind, so the run's scratch goes when it ends.
    """
    import shutil

    tmp.mkdir(parents=True, exist_ok=True)
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(tmp), str(tmp)
    try:
        yield
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env


class Zygote:
    """Steps fork from a process that imported their libraries once (see zygote.py).

    The runner runs steps with `sys.executable`; pointing it at the launcher for the length
    of a run is the one seam kfp.local offers. Start it early: it imports while the caller
    validates and compiles. MLCD_LOCAL_ZYGOTE=0 turns it off.
    """

    def __init__(self, home: Path):
        self.home = home
        self.enabled = os.environ.get("MLCD_LOCAL_ZYGOTE", "1") != "0"
        self.process = None

    def start(self) -> Zygote:
        import subprocess

        from mlcd.backends import zygote

        if not self.enabled or self.process is not None:
            return self
        base = self.home / "zygote"
        base.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(dir=base))
        if len(str(self.folder / "s.sock")) > 100:  # a Unix socket path is limited to 108 bytes
            self.folder = Path(tempfile.mkdtemp(prefix="mlcd-"))
        self.socket_path = str(self.folder / "s.sock")
        self.launcher = zygote.write_launcher(str(self.folder / "python3"))
        with open(base / "zygote.log", "ab") as log_file:
            # _KFP_RUNTIME is what the steps' own command sets: kfp then skips importing its API client
            # (and the kubernetes client with it), half a second the steps never need. The zygote leads
            # its own process group, which stop() ends, and dies with this process.
            self.process = subprocess.Popen([sys.executable, "-m", "mlcd.backends.zygote", self.socket_path],
                                            stdout=log_file, stderr=log_file, stdin=subprocess.DEVNULL,
                                            process_group=0,
                                            env={**os.environ, **STEP_ENV, "_KFP_RUNTIME": "true",
                                                 zygote.PARENT_ENV: str(os.getpid())})
        return self

    @contextlib.contextmanager
    def steps(self, process_group: int | None = None, step_timeout: float = 0):
        """Within this block, steps started by kfp.local run in the zygote, in `process_group` (by default
        the zygote's own), each for at most `step_timeout` seconds (0: no limit)."""
        from mlcd.backends import zygote

        env = dict(STEP_ENV)
        if self.process is not None:
            env |= {zygote.SOCKET_ENV: self.socket_path, zygote.REAL_PYTHON_ENV: sys.executable,
                    zygote.PID_ENV: str(self.process.pid),
                    zygote.STEP_PGID_ENV: str(process_group or self.process.pid),
                    zygote.STEP_TIMEOUT_ENV: str(step_timeout)}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        real_executable = sys.executable
        if self.process is not None:
            sys.executable = self.launcher
        try:
            yield
        finally:
            sys.executable = real_executable
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def kill(self) -> None:
        """End the zygote's process group now, steps and all (safe in a signal handler)."""
        import signal

        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """End the zygote and everything in its process group: steps still running stop with it."""
        import shutil

        if self.process is None:
            return
        self.kill()
        self.process.wait()
        self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Zygote:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_pipeline(ir: dict, arguments: dict, *, home: Path | None = None, progress_out=None,
                 run_name: str | None = None, zygote: Zygote | None = None,
                 on_event: Callable[[dict], None] | None = None, process_group: int | None = None,
                 step_timeout: float = 0) -> RunResult:
    """Run the IR with the subprocess runner in this Python environment (no per-task pip install).

    Give a started Zygote to reuse it across runs; without one, a zygote lives for this run.
    Steps join `process_group` (default: the zygote's), and each runs for at most `step_timeout`
    seconds (0: no limit).
    """
    from kfp import local
    from kfp.local import pipeline_orchestrator

    home = home or mlcd_home()
    run_name = run_name or f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    progress = Progress(progress_out, on_event)
    stream = _EventStream(progress)
    started = time.perf_counter()
    outputs: dict = {}
    error = ""
    own = zygote is None
    zygote = zygote or Zygote(home).start()
    try:
        with _scratch(home / "tmp" / run_name), zygote.steps(process_group, step_timeout), warnings.catch_warnings():
            # The runner warns when an image name lacks "python": mlcd's own image is a Python image.
            warnings.filterwarnings("ignore", message="You may be attemping to run a task", category=RuntimeWarning)
            # Display names are for the KFP UI; the local runner says it ignores them.
            warnings.filterwarnings("ignore", message=".*have no effect in the current local runner",
                                    category=UserWarning)
            local.init(runner=local.SubprocessRunner(use_venv=False),
                       pipeline_root=str(home / "pipeline-root" / run_name),
                       workspace_root=str(home / "workspace" / run_name), raise_on_error=False)
            try:
                with contextlib.redirect_stdout(stream):
                    outputs = pipeline_orchestrator.run_local_pipeline(_pipeline_spec(ir), arguments) or {}
            except Exception as exc:  # kfp.local raises plain exceptions for malformed IR or executor trouble
                error = f"the local runner failed: {exc}"
    finally:
        if own:
            zygote.stop()
    result = decide(outputs, progress.failure or error or ("" if outputs else _last_error(stream.lines)))
    result.steps = list(progress.steps.values())
    result.seconds = time.perf_counter() - started
    result.run_id = run_name
    log.info("local run finished run=%s phase=%s seconds=%.2f", run_name, result.phase, result.seconds)
    return result


def _last_error(lines: list[str]) -> str:
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line.strip()
    return "the pipeline failed; see the step logs above"
