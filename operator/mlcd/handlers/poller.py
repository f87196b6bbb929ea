"""One poller for every TrainingRun that can change without an event, instead of a kopf timer each.

A kopf timer per object costs a finalizer (written before the object's first handler runs, and
removed at its deletion), an asyncio task and a kept body per object, and thousands of timers tick on
their own whatever the operator's load. The poller sweeps kopf's index of the TrainingRuns that need
looking at (the same ``needs_polling`` filter the timer had) every tick, reconciles those not looked at
for a poll interval, a few at a time: under load a sweep takes longer and the next starts later,
instead of ticks piling up. A status it decides is written to the status subresource as a JSON merge
patch with the operator's client; a write that fails is forgotten, so the next look redoes it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Callable, Mapping

import kopf
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from mlcd.api.v1alpha1 import GROUP, VERSION

log = logging.getLogger("mlcd.poller")
CONCURRENCY = 32  # reconciles under way at once (most of their time is spent waiting on a call)
WRITE_TIMEOUT_SECONDS = 30


def _unbounded(namespace: str) -> float:
    return math.inf


class Poller:
    def __init__(self, reconcile: Callable, forget: Callable[[str], None], client: Callable, interval: float,
                 concurrency: int = CONCURRENCY, clock: Callable[[], float] = time.monotonic,
                 waits: Callable[[Mapping], str | None] = lambda body: None,
                 free_slots: Callable[[], tuple[float, Callable[[str], float]]] = lambda: (math.inf, _unbounded)):
        """reconcile(body, patch, logger): the TrainingRun reconcile; forget(uid): drop a write that failed;
        client(): the operator's ApiClient; waits(body): since when it is queued for a slot, None when it
        is not; free_slots(): how many runs could be admitted now, cluster-wide and in a namespace."""
        self.interval = interval
        self._reconcile, self._forget, self._client = reconcile, forget, client
        self._waits, self._free_slots = waits, free_slots
        self._clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self._looked: dict[str, float] = {}  # uid -> last look, for the objects in the index only
        self._deferred: dict[str, float] = {}  # uid -> not before then (a reconcile asked to be retried later)
        self._task: asyncio.Task | None = None

    def start(self, polled: Mapping) -> None:
        """Sweep ``polled`` (kopf's index: uid -> the object's latest body) until stopped."""
        self._task = asyncio.get_running_loop().create_task(self._run(polled))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self, polled: Mapping) -> None:
        tick = min(self.interval, 1.0)
        while True:
            try:
                await self.sweep(polled)
            except Exception:  # a sweep must never end the poller
                log.exception("poll sweep failed")
            await asyncio.sleep(tick)

    def defer(self, uid: str, seconds: float) -> None:
        """Look at the object no sooner than ``seconds`` from now (a reconcile's retry with backoff); the
        poll interval still applies when it is longer."""
        self._deferred[uid] = self._clock() + seconds

    def due(self, polled: Mapping) -> list:
        """The bodies to look at now, runs in flight first, then the queued ones oldest first.

        A body not looked at for an interval is due; one seen for the first time was just handled by
        its event, so its first look is an interval later (a timer's initial delay). A queued one is
        looked at only when a slot is free for it, and then at once, not an interval later: a slot that
        frees goes to the head of the queue within a tick, and a full cluster costs no reconciles of its
        waiters."""
        now = self._clock()
        looked, due, queued = {}, [], []
        deferred = {uid: at for uid, at in self._deferred.items() if at > now and uid in polled}
        for uid, store in list(polled.items()):
            last = self._looked.get(uid)
            for body in store:
                since = self._waits(body)
                if uid in deferred:
                    looked[uid] = now if last is None else last
                elif since is not None:
                    looked[uid] = now if last is None else last
                    queued.append((since, body))
                elif last is None:
                    looked[uid] = now
                elif now - last >= self.interval:
                    due.append(body)
                    looked[uid] = now
                else:
                    looked[uid] = last
        self._looked = looked  # objects gone from the index (settled, deleted) are let go
        self._deferred = deferred
        queued.sort(key=lambda waiting: (waiting[0], waiting[1]["metadata"].get("name") or ""))
        total, in_namespace = self._free_slots() if queued else (0, _unbounded)
        taken: collections.Counter[str] = collections.Counter()
        for _, body in queued:
            if total <= 0:
                break
            namespace = body["metadata"].get("namespace") or ""
            if taken[namespace] < in_namespace(namespace):  # the oldest of each namespace first
                due.append(body)
                taken[namespace] += 1
                total -= 1
        return due

    async def sweep(self, polled: Mapping) -> int:
        """Reconcile every due TrainingRun, at most ``concurrency`` at once; how many were looked at."""
        running: set[asyncio.Task] = set()
        due = self.due(polled)
        for body in due:
            await self._slots.acquire()
            task = asyncio.get_running_loop().create_task(self._one(body))
            running.add(task)
            task.add_done_callback(running.discard)
            task.add_done_callback(lambda _: self._slots.release())
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        return len(due)

    async def _one(self, body) -> None:
        meta = body.get("metadata") or {}
        name, namespace, uid = meta.get("name"), meta.get("namespace"), meta.get("uid")
        patch = kopf.Patch()
        try:
            await self._reconcile(body, patch, log)
        except kopf.TemporaryError as exc:  # the next look retries it, an interval later at the soonest
            self.defer(uid, exc.delay or 0.0)
            log.info("poll will retry name=%s namespace=%s reason=%s", name, namespace, exc)
        except Exception as exc:
            log.warning("poll failed name=%s namespace=%s error=%s: %.300s", name, namespace, type(exc).__name__, exc)
            return
        status = patch.get("status")
        if not status:
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(self._write, namespace, name, dict(status)),
                                   WRITE_TIMEOUT_SECONDS)
        except (ApiException, TimeoutError, OSError, RuntimeError) as exc:  # RuntimeError: threads shut down
            self._forget(uid)  # not written: the next look decides it again
            reason = exc.status if isinstance(exc, ApiException) else type(exc).__name__
            log.warning("status not written name=%s namespace=%s error=%s", name, namespace, reason)

    def _write(self, namespace: str, name: str, status: dict) -> None:
        response = CustomObjectsApi(self._client()).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "trainingruns", name, {"status": status}, _preload_content=False,
            _request_timeout=WRITE_TIMEOUT_SECONDS)
        response.read()  # to its end, so that the connection goes back to the pool
        response.release_conn()
