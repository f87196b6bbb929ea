"""The operator's count of runs in flight and its queue of triggers waiting for a slot.

Runs in flight are read from a kopf index of the TrainingRuns the operator watches (kopf fills its
indexes before the first handler runs, so a restarted operator knows what is in flight before it
admits anything), plus the runs it admitted whose status write the watch has not shown yet. Who waits,
and since when, comes from each waiter's own status (its Submitted condition), so the order survives a
restart. The rules are mlcd.reconcile.admission's; this class only keeps the books.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from mlcd.reconcile.admission import Caps, Verdict, Waiter, verdict

RESERVED_SECONDS = 120.0  # an admitted run the watch has not shown in flight by then is not counted
PRUNE_SECONDS = 1.0  # waiters gone quiet are dropped at most this often


class AdmissionControl:
    def __init__(self, caps: Caps, waiter_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.caps = caps
        self.waiter_seconds = waiter_seconds  # a waiter that has not asked again for this long is gone
        self.clock = clock
        self._reserved: dict[tuple[str, str], float] = {}
        self._waiting: dict[tuple[str, str], tuple[str, float]] = {}
        self._pruned = float("-inf")

    def request(self, namespace: str, name: str, since: str, in_flight: Mapping[str, object] | None) -> Verdict:
        """`in_flight`: namespace -> the names of its TrainingRuns with a run in flight (the kopf index)."""
        if not self.caps.capped:
            return Verdict(True, 0)
        now = self.clock()
        counts = self._counts(in_flight or {}, now)
        key, me = (namespace, name), Waiter(since, namespace, name)
        if now - self._pruned >= PRUNE_SECONDS:
            self._waiting = {k: v for k, v in self._waiting.items() if now - v[1] < self.waiter_seconds}
            self._pruned = now
        if self.caps.total and sum(counts.values()) >= self.caps.total:
            # No slot anywhere: no place in the queue changes the answer, so the queue is not ordered
            # (a thousand waiters asking in turn would otherwise sort it a thousand times).
            decided = verdict(me, (), counts, self.caps)
        else:
            waiting = [Waiter(s, ns, n) for (ns, n), (s, _) in self._waiting.items() if (ns, n) != key]
            decided = verdict(me, waiting, counts, self.caps)
        if decided.admitted:
            self._waiting.pop(key, None)
            self._reserved[key] = now
        else:
            self._waiting[key] = (since, now)
        return decided

    def free_slots(self, in_flight: Mapping[str, object] | None) -> tuple[float, Callable[[str], float]]:
        """Runs that could be admitted now: cluster-wide, and a function of the namespace (inf: no cap)."""
        counts = self._counts(in_flight or {}, self.clock()) if self.caps.capped else {}
        total = self.caps.total - sum(counts.values()) if self.caps.total else math.inf

        def in_namespace(namespace: str) -> float:
            return self.caps.per_namespace - counts.get(namespace, 0) if self.caps.per_namespace else math.inf

        return total, in_namespace

    def forget(self, namespace: str, name: str) -> None:
        """The object is gone: it neither waits nor holds a slot."""
        self._waiting.pop((namespace, name), None)
        self._reserved.pop((namespace, name), None)

    def _counts(self, in_flight: Mapping[str, object], now: float) -> dict[str, int]:
        names = {ns: set(found) for ns, found in in_flight.items()}
        self._reserved = {k: at for k, at in self._reserved.items()
                          if now - at < RESERVED_SECONDS and k[1] not in names.get(k[0], ())}
        for ns, name in self._reserved:
            names.setdefault(ns, set()).add(name)
        return {ns: len(found) for ns, found in names.items() if found}
