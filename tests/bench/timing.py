"""Shared by the benches: a median of wall-clock timings."""

import statistics
import time
from collections.abc import Callable


def median_seconds(action: Callable[[], object], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def bench_line(name: str, value: float, unit: str, op: str | None = None, aim: float | None = None) -> None:
    """One machine-readable figure: ``BENCH <name> <value> <unit> [aim <op> <value>]``, so a regression shows."""
    shown = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    print(f"BENCH {name} {shown} {unit}" + (f" aim {op} {aim:g}" if op and aim is not None else ""), flush=True)
