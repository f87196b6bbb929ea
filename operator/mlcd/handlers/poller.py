"""One poller for every TrainingRun that can change without an event, instead of a kopf timer each.

A kopf timer per object costs a finalizer (written before the object's first handler runs, and
removed at its deletion), an asyncio task and a kept body per object, and thousands of timers tick on
their own whatever the operator's load. The poller keeps the latest body of each TrainingRun that needs
looking at (the ``needs_polling`` filter the timer had), handed to it by one watch-event handler: one
dict entry per object (a kopf index would cost a store and a reverse set per object on top, ~0.7 KB).
It sweeps them every tick and reconciles those not looked at for a poll interval, a few at a time:
under load a sweep takes longer and the next starts later, instead of ticks piling up. A status it
decides is written to the status subresource as a JSON merge patch with the operator's credentials, from
the event loop; a write that fails is forgotten, so the next look redoes it.

A run in flight with nothing else to decide is not reconciled at every look: the backend is asked about
such runs in batches (one namespace's runs to a thread), and only a run with news, an object that
changed, or a run past its deadline is reconciled: ten thousand runs in flight that are still running
cost ten thousand answers per interval, not ten thousand reconciles.

A watch event of a generation not acted on yet is reconciled here too, from a queue: the event's kopf
worker hands the body over and returns, so a burst of ten thousand new TrainingRuns waits as ten thousand
deflated bodies (one per object, a newer event replacing an older one in place), not as ten thousand kopf
workers each holding its event, and a namespace's reconciles go on a few at a time, namespaces in turn, as
controller-runtime's work queue does. An event older than a status this operator has written for its
generation (still on its way through the watch) is dropped: it would decide on a status already replaced.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp
import kopf
from kubernetes.client.exceptions import ApiException

from mlcd.api.v1alpha1 import GROUP, VERSION
from mlcd.handlers.compact import deflate, inflate
from mlcd.handlers.kube import AsyncApi
from mlcd.handlers.limits import RECONCILES_PER_NAMESPACE
from mlcd.reconcile.polling import followed_run, needs_polling, queued_since, run_deadline, unhandled_generation

log = logging.getLogger("mlcd.poller")
CONCURRENCY = 32  # reconciles under way at once (most of their time is spent waiting on a call)
BATCH = 50  # runs in flight of one namespace asked about in one call of ``states`` (one thread)
# What a reconcile reads of metadata: the rest (managedFields, kubectl's last-applied annotation: a second
# copy of the spec, labels) is not kept. Name, namespace, uid and resourceVersion are fields of their own.
_KEPT_METADATA = ("generation", "deletionTimestamp", "finalizers")
WRITE_TIMEOUT_SECONDS = 30
ANSWERS_KEPT = 1024  # distinct answers of the backend kept as shared copies


def _unbounded(namespace: str) -> float:
    return math.inf


@dataclass(frozen=True, slots=True)
class Polled:
    """A TrainingRun as the poller keeps it between looks: what choosing it takes, and its body as
    deflated JSON.

    A parsed body costs about four times its JSON in memory, and the JSON deflates to a fifth against a
    dictionary of what every TrainingRun repeats (keys, defaults, condition words); the poller reads a body
    only when it reconciles the object. Deflating takes ~15 µs, inflating ~4 µs: ten thousand TrainingRuns
    in flight keep a few MB, not ~100 MB of dicts.
    """

    uid: str
    namespace: str
    name: str
    queued_since: str | None  # when it began to wait for a slot; None: it does not wait for one
    raw: bytes  # the body's JSON but the fields above, deflated (mlcd.handlers.compact)
    version: str = ""  # metadata.resourceVersion: any change to the object changes it
    run: tuple[str, str, str] | None = None  # the run in flight, when following it is all a look can do
    deadline: float | None = None  # when that run passes its time limit (seconds since the epoch)
    generation: int = 1  # metadata.generation

    @classmethod
    def of(cls, body: Mapping) -> Polled:
        meta, spec, status = body["metadata"], body.get("spec"), body.get("status")
        kept = {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"),
                "metadata": {key: meta[key] for key in _KEPT_METADATA if key in meta}, "spec": spec, "status": status}
        # A namespace's name is one string for all its objects, not one per body.
        return cls(meta["uid"], sys.intern(meta.get("namespace") or ""), meta.get("name") or "",
                   queued_since(status), deflate(kept), meta.get("resourceVersion") or "",
                   followed_run(spec, status, bool(meta.get("deletionTimestamp"))), run_deadline(spec, status),
                   meta.get("generation") or 1)

    def body(self) -> kopf.Body:
        body = inflate(self.raw)
        named = {"name": self.name, "namespace": self.namespace, "uid": self.uid, "resourceVersion": self.version}
        body["metadata"] = {**{key: value for key, value in named.items() if value}, **body["metadata"]}
        return kopf.Body(body)


class Poller:
    def __init__(self, reconcile: Callable, forget: Callable[[str], None], client: Callable, interval: float,
                 concurrency: int = CONCURRENCY, clock: Callable[[], float] = time.monotonic,
                 free_slots: Callable[[], tuple[float, Callable[[str], float]]] = lambda: (math.inf, _unbounded),
                 states: Callable[[list[tuple[str, str, str]]], list] | None = None,
                 wall: Callable[[], float] = time.time, per_namespace: int = RECONCILES_PER_NAMESPACE,
                 written: Callable[[str], int | None] = lambda uid: None):
        """reconcile(body, patch, logger): the TrainingRun reconcile; forget(uid): drop a write that failed;
        client(): the operator's ApiClient; free_slots(): how many runs could be admitted now, cluster-wide
        and in a namespace; states(runs): what the backend says of each run (name, id, url), in one
        blocking call, None for one it could not tell (None: every look is a reconcile); per_namespace: queued
        events of one namespace reconciled at once; written(uid): the generation of the status this operator
        wrote for the object and has not seen come back through the watch yet, else None."""
        self.interval = interval
        self.concurrency = concurrency
        self._reconcile, self._forget, self._client = reconcile, forget, client
        self._free_slots, self._states, self._wall = free_slots, states, wall
        self._api = AsyncApi(client, timeout=WRITE_TIMEOUT_SECONDS)
        # uid -> (resourceVersion, what the backend said of the run) when it was last reconciled: a look
        # that finds both unchanged, before the run's deadline, would decide nothing new and is skipped.
        self._decided: dict[str, tuple[str, object]] = {}
        self._answers: dict[object, object] = {}  # one copy of each distinct answer: thousands of runs say the same
        self._clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self._looked: dict[str, float] = {}  # uid -> last look, for the kept objects only
        self._deferred: dict[str, float] = {}  # uid -> not before then (a reconcile asked to be retried later)
        self._task: asyncio.Task | None = None
        # The queue of watch events: namespace -> uid -> latest body, oldest first; namespaces in turn.
        self._per_namespace, self._written = per_namespace, written
        self._queued: dict[str, dict[str, Polled]] = {}
        self._active: collections.Counter[str] = collections.Counter()  # namespace -> its reconciles under way
        self._running: set[str] = set()  # uids being reconciled from the queue
        self._workers: set[asyncio.Task] = set()
        self._wake = asyncio.Event()
        self._drainer: asyncio.Task | None = None
        # uid -> the latest body of each TrainingRun that needs polling (one object: the queue shares it).
        self.kept: dict[str, Polled] = {}

    def start(self) -> None:
        """Sweep the kept TrainingRuns until stopped."""
        self._task = asyncio.get_running_loop().create_task(self._run(self.kept))
        self._drainer = asyncio.get_running_loop().create_task(self._drain())

    def watched(self, body: Mapping, event_type: str | None) -> None:
        """A watch event of a TrainingRun (kopf's event type; None: listed): keep its body while it needs
        polling, and queue a reconcile of a generation not acted on yet. A deleted object is let go, and
        a reconcile of it that still waits in the queue is dropped."""
        meta = body["metadata"]
        uid, namespace = meta["uid"], meta.get("namespace") or ""
        if event_type == "DELETED":
            self.kept.pop(uid, None)
            queue = self._queued.get(namespace)
            if queue is not None:
                queue.pop(uid, None)
            return
        spec, status = body.get("spec"), body.get("status")
        kept = None
        if needs_polling(spec, status, meta.get("generation")):
            kept = self.kept[uid] = Polled.of(body)
        else:
            self.kept.pop(uid, None)
        if unhandled_generation(status, meta, event_type):
            self.enqueue(kept or Polled.of(body))

    async def stop(self) -> None:
        tasks = [task for task in (self._task, self._drainer, *self._workers) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = self._drainer = None
        self._workers.clear()
        await self._api.close()

    # --- the queue of watch events ---------------------------------------------------------------------------

    def enqueue(self, kept: Polled) -> None:
        """Reconcile ``kept`` (a watch event's body) once its namespace has a free slot; never waits."""
        if self._covered(kept.uid, kept.generation):
            return
        queue = self._queued.get(kept.namespace)
        if queue is None:
            queue = self._queued[kept.namespace] = {}
        queue[kept.uid] = kept  # a newer event of a queued object takes its place in the line
        self._wake.set()

    def queued(self) -> int:
        """How many objects wait in the queue of watch events (read by the metrics server's thread too)."""
        return sum(len(queue) for queue in list(self._queued.values()))

    def _covered(self, uid: str, generation: int) -> bool:
        written = self._written(uid)
        return written is not None and written >= generation

    async def _drain(self) -> None:
        """Start the queued reconciles the slots allow: per namespace oldest first, namespaces in turn."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                self._start_queued()
            except Exception:  # the queue must never stop being served
                log.exception("queued reconciles not started")
                await asyncio.sleep(1.0)
                self._wake.set()

    def _start_queued(self) -> None:
        loop = asyncio.get_running_loop()
        for namespace in list(self._queued):
            queue = self._queued[namespace]
            free = min(self._per_namespace - self._active[namespace], self.concurrency - len(self._workers))
            chosen = []
            for uid in queue:  # a scan of the head only: the free slots and the objects under way
                if len(chosen) >= free:
                    break
                if uid not in self._running:  # else its newer body waits for the reconcile under way
                    chosen.append(uid)
            for uid in chosen:
                kept = queue[uid]
                covered = self._covered(uid, kept.generation)
                del queue[uid]  # only now: a check that raised leaves the body in its place
                if covered:
                    continue
                self._active[namespace] += 1
                self._running.add(uid)
                task = loop.create_task(self._from_event(kept))
                self._workers.add(task)
                task.add_done_callback(functools.partial(self._finished, kept))
            if not queue:
                del self._queued[namespace]
            elif chosen:  # the next pass serves the other namespaces first
                self._queued[namespace] = self._queued.pop(namespace)

    async def _from_event(self, kept: Polled) -> None:
        done, status = await self._look(kept)
        # A newer event that came meanwhile, of the generation just written, decided on an older status.
        generation = (status or {}).get("observedGeneration")
        queued = self._queued.get(kept.namespace, {}).get(kept.uid)
        if done and queued is not None and isinstance(generation, int) and queued.generation <= generation:
            del self._queued[kept.namespace][kept.uid]

    def _finished(self, kept: Polled, task: asyncio.Task) -> None:
        self._workers.discard(task)
        self._running.discard(kept.uid)
        self._active[kept.namespace] -= 1
        if self._active[kept.namespace] <= 0:
            del self._active[kept.namespace]
        if not self._queued.get(kept.namespace, True):
            del self._queued[kept.namespace]
        self._wake.set()

    # --- the sweep -------------------------------------------------------------------------------------------

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

    def due(self, polled: Mapping) -> list[Polled]:
        """The objects to look at now, runs in flight first, then the queued ones oldest first.

        A body not looked at for an interval is due; one seen for the first time was just handled by
        its event, so its first look is an interval later (a timer's initial delay). A queued one is
        looked at only when a slot is free for it, and then at once, not an interval later: a slot that
        frees goes to the head of the queue within a tick, and a full cluster costs no reconciles of its
        waiters."""
        now = self._clock()
        looked, due, queued = {}, [], []
        deferred = {uid: at for uid, at in self._deferred.items() if at > now and uid in polled}
        for uid, kept in list(polled.items()):
            last = self._looked.get(uid)
            if uid in deferred:
                looked[uid] = now if last is None else last
            elif kept.queued_since is not None:
                looked[uid] = now if last is None else last
                queued.append(kept)
            elif last is None:
                looked[uid] = now
            elif now - last >= self.interval:
                due.append(kept)
                looked[uid] = now
            else:
                looked[uid] = last
        self._looked = looked  # objects no longer kept (settled, deleted) are let go
        self._deferred = deferred
        self._decided = {uid: seen for uid, seen in self._decided.items() if uid in looked}
        queued.sort(key=lambda waiting: (waiting.queued_since, waiting.name))
        total, in_namespace = self._free_slots() if queued else (0, _unbounded)
        taken: collections.Counter[str] = collections.Counter()
        for kept in queued:
            if total <= 0:
                break
            if taken[kept.namespace] < in_namespace(kept.namespace):  # the oldest of each namespace first
                due.append(kept)
                taken[kept.namespace] += 1
                total -= 1
        return due

    async def sweep(self, polled: Mapping) -> int:
        """Look at every due TrainingRun, at most ``concurrency`` calls at once; how many were looked at.

        The runs in flight whose look can only follow them are asked about together (``BATCH`` to a
        thread): only those the backend has news of, or whose object changed, or past their deadline, are
        reconciled. The others are reconciled one by one."""
        running: set[asyncio.Task] = set()
        due = self.due(polled)
        now = self._wall()
        followed = [kept for kept in due if self._states is not None and kept.run is not None
                    and (kept.deadline is None or now < kept.deadline)]
        chosen = {id(kept) for kept in followed}
        # A batch holds one namespace's runs: a backend slow to answer for one namespace delays only its own.
        by_namespace: dict[str, list[Polled]] = collections.defaultdict(list)
        for kept in followed:
            by_namespace[kept.namespace].append(kept)
        # Each job's coroutine is made when a slot frees: a sweep that is cancelled leaves none unawaited.
        work = [functools.partial(self._batch, runs[i:i + BATCH])
                for runs in by_namespace.values() for i in range(0, len(runs), BATCH)]
        work += [functools.partial(self._one, kept) for kept in due if id(kept) not in chosen]
        for job in work:
            await self._slots.acquire()
            task = asyncio.get_running_loop().create_task(job())
            running.add(task)
            task.add_done_callback(running.discard)
            task.add_done_callback(lambda _: self._slots.release())
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        return len(due)

    async def _batch(self, batch: list[Polled]) -> None:
        try:
            said = await asyncio.wait_for(asyncio.to_thread(self._states, [kept.run for kept in batch]),
                                          WRITE_TIMEOUT_SECONDS)
        except Exception as exc:  # every one of them is reconciled, and says what is wrong
            log.warning("runs in flight not asked about count=%d error=%s", len(batch), type(exc).__name__)
            said = [None] * len(batch)
        for kept, news in zip(batch, said, strict=True):
            if news is not None and self._decided.get(kept.uid) == (kept.version, news):
                continue  # the same object, the same answer: the reconcile would decide the same
            if await self._one(kept):
                if len(self._answers) >= ANSWERS_KEPT:
                    self._answers.clear()
                self._decided[kept.uid] = (kept.version, self._answers.setdefault(news, news))
            else:
                self._decided.pop(kept.uid, None)

    async def _one(self, kept: Polled) -> bool:
        """Reconcile one object and write what it decided; whether all of that went through (a reconcile
        that asked to be retried, failed, or whose write failed is decided again at the next look)."""
        return (await self._look(kept))[0]

    async def _look(self, kept: Polled) -> tuple[bool, dict | None]:
        """What ``_one`` does; also the status written (None: nothing was)."""
        name, namespace, uid = kept.name, kept.namespace, kept.uid
        patch = kopf.Patch()
        done = True
        try:
            await self._reconcile(kept.body(), patch, log)
        except kopf.TemporaryError as exc:  # the next look retries it, an interval later at the soonest
            self.defer(uid, exc.delay or 0.0)
            log.info("poll will retry name=%s namespace=%s reason=%s", name, namespace, exc)
            done = False
        except Exception as exc:
            log.warning("reconcile failed name=%s namespace=%s error=%s: %.300s", name, namespace,
                        type(exc).__name__, exc)
            return False, None
        status = patch.get("status")
        if not status:
            return done, None
        try:
            await asyncio.wait_for(self._write(namespace, name, dict(status)), WRITE_TIMEOUT_SECONDS)
        except (ApiException, TimeoutError, OSError, aiohttp.ClientError) as exc:
            self._forget(uid)  # not written: the next look decides it again
            reason = exc.status if isinstance(exc, ApiException) else type(exc).__name__
            # 404: deleted while its reconcile waited or ran; nothing is left to write to, or to look at again
            # (a deletion the watch missed, across a relist, is not kept for ever).
            if isinstance(exc, ApiException) and exc.status == 404 and self.kept.get(uid) is kept:
                del self.kept[uid]
            log.log(logging.INFO if reason == 404 else logging.WARNING, "status not written name=%s namespace=%s "
                    "error=%s", name, namespace, reason)
            return False, None
        return done, dict(status)

    async def _write(self, namespace: str, name: str, status: dict) -> None:
        """The status subresource's JSON merge patch, sent from the event loop (no thread per write)."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/trainingruns/{name}/status"
        code = await self._api.request("PATCH", path, {"status": status}, content_type="application/merge-patch+json")
        if code >= 300:
            raise ApiException(status=code)
