"""How many pipeline runs may be in flight at once: no thundering herd at 03:00.

A thousand TrainingRuns on ``0 3 * * *`` fall due in the same second. The operator caps the runs in
flight cluster-wide and per namespace (chart values); a trigger that finds no free slot waits, under
its exactly-once key (it stays recorded in the TrainingRun's status), and the waiting ones start in
the order they began to wait as slots free up. A namespace at its own cap does not hold back the
others. ``spread_offset`` optionally spreads scheduled triggers over a window, by a fixed offset per
object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Caps:
    total: int = 0  # runs in flight cluster-wide; 0: no cap
    per_namespace: int = 0  # runs in flight in one namespace; 0: no cap

    @property
    def capped(self) -> bool:
        return bool(self.total or self.per_namespace)


@dataclass(frozen=True, order=True)
class Waiter:
    since: str  # when it began to wait (RFC 3339, so the strings sort by time), then by name
    namespace: str
    name: str


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    position: int  # 1-based place among those that must wait; 0 when admitted
    message: str = ""


def verdict(me: Waiter, waiting: Iterable[Waiter], in_flight: Mapping[str, int], caps: Caps) -> Verdict:
    """Whether `me` may start a run now. Waiters are served in order; each takes a slot if both the
    cluster and its namespace have one free, and one that cannot is passed over, not waited for."""
    total_free = caps.total - sum(in_flight.values()) if caps.total else None
    ns_free: dict[str, int | None] = {}
    position = 0
    for waiter in sorted({*waiting, me}):
        if waiter.namespace not in ns_free:
            ns_free[waiter.namespace] = (caps.per_namespace - in_flight.get(waiter.namespace, 0)
                                         if caps.per_namespace else None)
        free_here = ns_free[waiter.namespace]
        if (total_free is None or total_free > 0) and (free_here is None or free_here > 0):
            if waiter == me:
                return Verdict(True, 0)
            total_free = None if total_free is None else total_free - 1
            if free_here is not None:
                ns_free[waiter.namespace] = free_here - 1
            continue
        position += 1
        if waiter == me:
            break
    # Stable words (no counts): a queued TrainingRun's status is written once, not at every poll.
    if caps.total and sum(in_flight.values()) >= caps.total:
        limit = f"the cluster's cap of {caps.total} runs in flight"
    elif caps.per_namespace and in_flight.get(me.namespace, 0) >= caps.per_namespace:
        limit = f"namespace {me.namespace}'s cap of {caps.per_namespace} runs in flight"
    else:
        limit = "the runs queued before it"
    return Verdict(False, position, f"queued behind {limit}; the run starts when a slot is free")


def spread_offset(uid: str, window_seconds: int) -> int:
    """A fixed offset in [0, window) for one object: its scheduled triggers fire that much after the slot."""
    return int(hashlib.sha256(uid.encode()).hexdigest()[:12], 16) % max(window_seconds, 1)
