"""The `local` backend of the operator: a durable run queue on disk, drained by a worker process.

A run is a folder `$MLCD_HOME/runs/NAME/` made with mkdir, so a name is taken once whatever
restarts happen around it; `request.json` is written before submit returns and `result.json`
by the worker when the run ends. The worker (local_worker.py) runs in its own session, so
an operator that dies or restarts leaves it to finish, and the next operator finds the run
by its name. A file lock says whether a worker is alive.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from mlcd.backends.base import BackendError, Placement, RunRef, RunState

log = logging.getLogger(__name__)
LOCK_NAME = ".worker.lock"


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    os.replace(tmp, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def worker_alive(runs: Path) -> bool:
    runs.mkdir(parents=True, exist_ok=True)
    with open(runs / LOCK_NAME, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalQueueBackend:
    name = "local"

    def __init__(self, home: Path, idle_seconds: float = 30.0, env: dict[str, str] | None = None):
        """env: variables the worker, and so every step, gets on top of this process's environment."""
        self.home = Path(home)
        self.runs = self.home / "runs"
        self.idle_seconds = idle_seconds
        self.env = dict(env or {})

    def _folder(self, run_name: str) -> Path:
        if "/" in run_name or run_name.startswith("."):
            raise BackendError(f"run name {run_name!r} is not a plain name")
        return self.runs / run_name

    def find(self, run_name: str, place: Placement | None = None) -> RunRef | None:
        """place is not used: every run of this machine lives in one queue, named uniquely."""
        folder = self._folder(run_name)
        if not (folder / "request.json").exists():
            return None
        return RunRef(run_name, run_name, url=folder.as_uri(), adopted=True)

    def submit(self, run_name: str, document: dict, arguments: dict, labels: dict,
               place: Placement | None = None) -> RunRef:
        """document: the pipeline spec, or {pipeline_spec, platform_spec} as KFP's API takes it.

        The platform spec (Kubernetes Secrets for the steps) has no meaning here: steps inherit
        this process's environment.
        """
        ir = document["pipeline_spec"] if "platform_spec" in document else document
        folder = self._folder(run_name)
        folder.mkdir(parents=True, exist_ok=True)
        request = folder / "request.json"
        adopted = request.exists()
        if not adopted:
            # A crash between mkdir and this write leaves an empty folder: the next submit completes it.
            write_json(request, {"name": run_name, "ir": ir, "arguments": arguments, "labels": labels})
            log.info("run queued backend=local run=%s", run_name)
        self.ensure_worker()
        return RunRef(run_name, run_name, url=folder.as_uri(), adopted=adopted)

    def get(self, ref: RunRef) -> RunState:
        folder = self._folder(ref.name)
        result = read_json(folder / "result.json")
        if result is not None:
            return RunState(ref.run_id, result["state"], result.get("message", ""), result.get("result", {}))
        if not (folder / "request.json").exists():
            return RunState(ref.run_id, "FAILED", "the run's request is missing from the local queue")
        claim = read_json(folder / "claim.json")
        if claim is None:
            self.ensure_worker()
            return RunState(ref.run_id, "PENDING", "queued for the local worker")
        if not pid_alive(claim["pid"]):
            return RunState(ref.run_id, "FAILED", "the local worker stopped during the run")
        progress = read_json(folder / "progress.json") or {}
        message = f"step {progress['step']} ({len(progress['done'])} done)" if progress else "starting"
        return RunState(ref.run_id, "RUNNING", message)

    def stop(self, ref: RunRef) -> None:
        folder = self._folder(ref.name)
        (folder / "stop").touch()
        claim = read_json(folder / "claim.json")
        if claim and pid_alive(claim["pid"]):
            try:
                os.killpg(claim["pid"], 15)
            except ProcessLookupError:
                pass
        if not (folder / "result.json").exists():
            write_json(folder / "result.json", {"state": "CANCELED", "message": "stopped on request"})

    def ensure_worker(self) -> None:
        if worker_alive(self.runs):
            return
        log_path = self.home / "worker.log"
        with open(log_path, "ab") as out:
            # --detach forks the worker off and returns at once: the worker outlives this process
            # and is nobody's zombie.
            subprocess.run(
                [sys.executable, "-m", "mlcd.backends.local_worker", "--detach", str(self.home),
                 str(self.idle_seconds)],
                stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True, check=True,
                env={**os.environ, **self.env},
            )
        log.info("local worker started home=%s", self.home)
