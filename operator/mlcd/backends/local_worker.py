"""Drains the local run queue (see queue.py): one run at a time, each in a child process.

The child makes its own process group and its steps join it, so stopping a run kills its
steps too. Each step runs for at most MLCD_LOCAL_STEP_TIMEOUT seconds and each run for at most
MLCD_LOCAL_RUN_TIMEOUT: a stuck run holds the queue no longer than that. The worker holds the
queue's lock for its life and leaves after `idle` seconds with nothing to do.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from mlcd.backends.queue import LOCK_NAME, read_json, write_json

log = logging.getLogger("mlcd.worker")
STEP_TIMEOUT_ENV, RUN_TIMEOUT_ENV = "MLCD_LOCAL_STEP_TIMEOUT", "MLCD_LOCAL_RUN_TIMEOUT"
DEFAULT_STEP_TIMEOUT, DEFAULT_RUN_TIMEOUT = 3600.0, 4 * 3600.0


def _seconds(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def next_request(runs: Path) -> Path | None:
    waiting = [p.parent for p in runs.glob("*/request.json")
               if not (p.parent / "claim.json").exists() and not (p.parent / "result.json").exists()]
    return min(waiting, key=lambda p: (p / "request.json").stat().st_mtime) if waiting else None


def run_one(folder: Path, zygote, step_timeout: float, run_timeout: float) -> None:
    from mlcd.backends.local import run_pipeline

    request = json.loads((folder / "request.json").read_text())
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        code = 1
        try:
            done: list[str] = []

            def progressed(event: dict) -> None:
                # What the operator shows while the run is in flight: the step and how far along it is.
                if event.get("event") == "end":
                    done.append(event["step"])
                step = event["step"] if event.get("event") == "start" else "between steps"
                write_json(folder / "progress.json", {"step": step, "done": list(done)})

            result = run_pipeline(request["ir"], request["arguments"], home=folder.parent.parent,
                                  run_name=request["name"], zygote=zygote, on_event=progressed,
                                  process_group=os.getpid(), step_timeout=step_timeout)
            state = {"Succeeded": "SUCCEEDED", "Rejected": "SUCCEEDED"}.get(result.phase, "FAILED")
            write_json(folder / "result.json", {"state": state, "message": result.message,
                                                "result": result.to_json()})
            code = 0
        finally:
            os._exit(code)
    write_json(folder / "claim.json", {"pid": pid, "at": time.time()})
    status = _wait(pid, run_timeout)
    if status is None:
        _kill_group(pid)
        _, status = os.waitpid(pid, 0)
        if not (folder / "result.json").exists():
            write_json(folder / "result.json", {"state": "FAILED",
                                                "message": f"the run took longer than its limit of {run_timeout:g}s"})
    if not (folder / "result.json").exists():
        write_json(folder / "result.json", {"state": "FAILED", "message": f"the run's process ended ({status})"})
    # Whatever the run left in its group (a step of a stopped run) ends with it.
    _kill_group(pid)


def _wait(pid: int, limit: float) -> int | None:
    """The wait status of the child, or None when it is still running after `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.1)
    return None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def serve(home: Path, idle: float) -> int:
    from mlcd.backends.local import Zygote

    runs = home / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    lock = open(runs / LOCK_NAME, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another worker drains this queue
    last_work = time.monotonic()
    step_timeout = _seconds(STEP_TIMEOUT_ENV, DEFAULT_STEP_TIMEOUT)
    run_timeout = _seconds(RUN_TIMEOUT_ENV, DEFAULT_RUN_TIMEOUT)
    with Zygote(home) as zygote:
        while time.monotonic() - last_work < idle:
            folder = next_request(runs)
            if folder is None:
                time.sleep(0.1)
                continue
            if (folder / "stop").exists():
                write_json(folder / "result.json", {"state": "CANCELED", "message": "stopped before it started"})
                continue
            log.info("run starting run=%s", folder.name)
            run_one(folder, zygote, step_timeout, run_timeout)
            state = (read_json(folder / "result.json") or {}).get("state")
            log.info("run finished run=%s state=%s", folder.name, state)
            last_work = time.monotonic()
    return 0


def main(argv: list[str]) -> int:
    detach = argv[:1] == ["--detach"]
    args = argv[1:] if detach else argv
    if detach and os.fork() != 0:
        return 0
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return serve(Path(args[0]), float(args[1]) if len(args) > 1 else 30.0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
