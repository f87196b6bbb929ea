"""Markers a step prints so that whoever runs the pipeline can follow it and report failures.

The KFP UI shows the same lines in the step's logs, so they are meant for people too.
"""

import json
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager

MARKER = "MLCD-EVENT "


class StepError(Exception):
    """A failure whose message a user can act on (it names the field or the file)."""


def emit(event: str, step: str, **fields) -> None:
    print(MARKER + json.dumps({"event": event, "step": step, **fields}, sort_keys=True), flush=True)


def parse(line: str) -> dict | None:
    # Runners indent or prefix the lines of a step's log; the marker may stand anywhere in the line.
    at = line.find(MARKER)
    if at < 0:
        return None
    try:
        return json.loads(line[at + len(MARKER):])
    except ValueError:
        return None


@contextmanager
def step(name: str):
    started = time.perf_counter()
    emit("start", name)
    try:
        yield
    except StepError as exc:
        emit("failed", name, message=str(exc), seconds=round(time.perf_counter() - started, 3))
        raise SystemExit(1) from None
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        emit("failed", name, message=f"{type(exc).__name__}: {exc}", seconds=round(time.perf_counter() - started, 3))
        raise SystemExit(1) from None
    emit("end", name, seconds=round(time.perf_counter() - started, 3))


def run_step(name: str, func: Callable, *args, **kwargs):
    with step(name):
        return func(*args, **kwargs)
