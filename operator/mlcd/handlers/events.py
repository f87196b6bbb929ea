"""Events as Kubernetes' own recorder sends them: counted, combined and rate-limited per object.

An operator that posts one Event per reconcile floods the API server and `kubectl describe` alike. The
rules here are client-go's EventCorrelator (tools/record/events_cache.go), with its defaults:

- the same Event again (same object, type, reason and message) is not a new object: the existing one is
  patched with ``count`` + 1 and a new ``lastTimestamp``;
- an object that gets more than 10 Events of one type and reason with different messages within 10
  minutes gets one Event "(combined from similar events): <latest message>", counted from then on;
- each object may post a burst of 25 Events, then one more every 5 minutes (a token bucket): what goes
  over is dropped (and counted in mlcd_events_dropped_total).

``Correlator`` decides (no I/O, clock given); ``EventRecorder`` posts in the background, so a reconcile
never waits for an Event, and at most ``QUEUE_LIMIT`` wait to be posted. ``POSTERS`` post at once, each
for its share of the objects: one object's Events are posted in order (a count never overtakes its
Event), while a burst of ten thousand objects' Events does not wait in line behind one connection.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from mlcd.handlers import metrics
from mlcd.handlers.kube import AsyncApi
from mlcd.timestamps import rfc3339

COMPONENT = "mlcd-operator"
MESSAGE_LIMIT = 1024  # as kopf and the API server's own recorder cut a message
SIMILAR_LIMIT = 10  # client-go defaultAggregateMaxEvents
SIMILAR_WINDOW_SECONDS = 600.0  # client-go defaultAggregateIntervalInSeconds
BURST = 25  # client-go defaultSpamBurst
REFILL_PER_SECOND = 1.0 / 300.0  # client-go defaultSpamQPS
OBJECTS_REMEMBERED = 4096  # client-go maxLruCacheEntries
SEEN_PER_OBJECT = 64  # distinct Events of one object remembered for counting
QUEUE_LIMIT = 10_000
POSTERS = 8  # Events posted at once (the connection pool's size), one object's always by the same poster
COMBINED = "(combined from similar events): "
_POST_TIMEOUT_SECONDS = 10

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Involved:
    """The object an Event is about."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str

    @classmethod
    def of(cls, obj) -> Involved:
        meta = obj["metadata"]
        return cls(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"], meta["uid"])


@dataclass(frozen=True)
class Create:
    """Post a new Event named ``name``."""

    involved: Involved
    name: str
    type: str
    reason: str
    message: str
    count: int
    first: datetime
    last: datetime


@dataclass(frozen=True)
class Count:
    """Patch Event ``name``: it happened again (``create`` re-posts it if it has expired meanwhile)."""

    create: Create


class _Seen:
    """One Event of an object: its key's digest, when it was first posted (ns since the epoch: it names the
    Event) and how often it happened."""

    __slots__ = ("key", "first", "count")

    def __init__(self, key: int, first: int):
        self.key, self.first, self.count = key, first, 0


class _Similar:
    """The messages of one type and reason lately (their digests), since when."""

    __slots__ = ("type", "reason", "since", "messages")

    def __init__(self, type_: str, reason: str, since: float):
        self.type, self.reason, self.since = type_, reason, since
        self.messages: tuple[int, ...] = ()


class _Object:
    """One object's token bucket and Events. Small on purpose (4,096 are remembered): flat lists scanned in
    order (an object has a few Events; at most SEEN_PER_OBJECT), and 64-bit digests instead of messages
    (two of one object's messages sharing one is a chance of ~1 in 10^17; the worst it does is count an
    Event as a repeat of the other, the message patched to the latest)."""

    __slots__ = ("tokens", "refilled", "seen", "similar")

    def __init__(self, tokens: float, refilled: float):
        self.tokens, self.refilled = tokens, refilled
        self.seen: list[_Seen] = []
        self.similar: list[_Similar] = []

    def similar_to(self, type_: str, reason: str, now: float) -> _Similar:
        for similar in self.similar:
            if similar.type == type_ and similar.reason == reason:
                if now - similar.since > SIMILAR_WINDOW_SECONDS:
                    similar.since, similar.messages = now, ()
                return similar
        similar = _Similar(type_, reason, now)
        self.similar.append(similar)
        return similar

    def seen_as(self, key: int, first: int) -> _Seen:
        for seen in self.seen:
            if seen.key == key:
                return seen
        seen = _Seen(key, first)
        self.seen.append(seen)
        if len(self.seen) > SEEN_PER_OBJECT:
            del self.seen[0]
        return seen


class Correlator:
    """What to send for each Event an object gets: a new Event, a count on an earlier one, or nothing."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._clock = clock
        self._wall = wall
        self._objects: dict[str, _Object] = {}  # least recently used first

    def correlate(self, involved: Involved, type_: str, reason: str, message: str) -> Create | Count | None:
        now, wall = self._clock(), self._wall()
        state = self._object(involved.uid, now)
        message = message[:MESSAGE_LIMIT]
        similar = state.similar_to(type_, reason, now)
        digest = hash(message)
        if len(similar.messages) < SIMILAR_LIMIT and digest not in similar.messages:
            similar.messages += (digest,)
        key = hash((type_, reason, message))
        if len(similar.messages) >= SIMILAR_LIMIT:
            key, message = hash((type_, reason, None)), (COMBINED + message)[:MESSAGE_LIMIT]
        seen = state.seen_as(key, _nanoseconds(wall))
        seen.count += 1
        event = Create(involved, _event_name(involved.name, seen.first), type_, reason, message, seen.count,
                       datetime.fromtimestamp(seen.first / 1e9, UTC), wall)
        state.tokens = min(BURST, state.tokens + (now - state.refilled) * REFILL_PER_SECOND)
        state.refilled = now
        if state.tokens < 1:
            return None
        state.tokens -= 1
        return event if seen.count == 1 else Count(event)

    def forget(self, uid: str) -> None:
        self._objects.pop(uid, None)

    def _object(self, uid: str, now: float) -> _Object:
        state = self._objects.pop(uid, None)
        if state is None:
            state = _Object(tokens=BURST, refilled=now)
            while len(self._objects) >= OBJECTS_REMEMBERED:
                del self._objects[next(iter(self._objects))]
        self._objects[uid] = state  # the most recently used last
        return state


def _nanoseconds(when: datetime) -> int:
    return int(when.timestamp() * 1e9)


def _event_name(object_name: str, first: int) -> str:
    """As client-go names an Event: the object's name and the time in nanoseconds, in hex."""
    return f"{object_name}.{first:x}"


def event_body(event: Create, instance: str) -> dict:
    involved = event.involved
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": event.name, "namespace": involved.namespace},
        "involvedObject": {"apiVersion": involved.api_version, "kind": involved.kind,
                           "namespace": involved.namespace, "name": involved.name, "uid": involved.uid},
        "type": event.type, "reason": event.reason, "message": event.message, "count": event.count,
        "firstTimestamp": rfc3339(event.first), "lastTimestamp": rfc3339(event.last),
        "source": {"component": COMPONENT, "host": instance},
        "reportingComponent": COMPONENT, "reportingInstance": instance,
    }


class EventRecorder:
    """Posts what the correlator decides, in the background (each object's Events in order), with the
    operator's client (its host and credentials, sent from the event loop: no thread per Event)."""

    def __init__(self, client: Callable, correlator: Correlator | None = None):
        self._api = AsyncApi(client, timeout=_POST_TIMEOUT_SECONDS)
        self.correlator = correlator or Correlator()
        self._instance = socket.gethostname()
        self._queues: list[asyncio.Queue] = []
        self._tasks: list[asyncio.Task] = []

    def record(self, obj, type_: str, reason: str, message: str) -> None:
        """Post (or count) an Event about ``obj`` (a body with apiVersion, kind and metadata); never waits."""
        action = self.correlator.correlate(Involved.of(obj), type_, reason, message)
        if action is None:
            metrics.EVENTS_DROPPED.labels("rate-limited").inc()
            return
        queue = self._running_queues()[hash(action_uid(action)) % POSTERS]
        try:
            queue.put_nowait(action)
        except asyncio.QueueFull:
            metrics.EVENTS_DROPPED.labels("queue-full").inc()

    def forget(self, uid: str) -> None:
        self.correlator.forget(uid)

    async def close(self, timeout: float = 5.0) -> None:
        """Post what is queued (for at most ``timeout`` seconds), then stop."""
        if not self._tasks:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*(queue.join() for queue in self._queues)), timeout)
        except TimeoutError:
            log.warning("events not posted at shutdown count=%d", sum(queue.qsize() for queue in self._queues))
        for task in self._tasks:
            task.cancel()
        self._tasks, self._queues = [], []
        await self._api.close()

    def _running_queues(self) -> list[asyncio.Queue]:
        loop = asyncio.get_running_loop()
        if not self._tasks or any(task.done() for task in self._tasks) or self._tasks[0].get_loop() is not loop:
            for task in self._tasks:
                if task.get_loop() is loop:  # another loop's (a closed one's) are not ours to touch
                    task.cancel()
            self._queues = [asyncio.Queue(QUEUE_LIMIT // POSTERS) for _ in range(POSTERS)]
            self._tasks = [loop.create_task(self._post_all(queue)) for queue in self._queues]
        return self._queues

    async def _post_all(self, queue: asyncio.Queue) -> None:
        while True:
            action = await queue.get()
            try:
                status = await self._post(action)
                if status >= 300:
                    metrics.EVENTS_DROPPED.labels(f"HTTP{status}").inc()
                    log.warning("event not posted reason=%s object=%s status=%s", _create(action).reason,
                                _create(action).involved.name, status)
            except Exception as exc:  # the API server unreachable: an Event is not worth a crash
                metrics.EVENTS_DROPPED.labels("unreachable").inc()
                log.warning("event not posted reason=%s object=%s error=%s", _create(action).reason,
                            _create(action).involved.name, type(exc).__name__)
            finally:
                queue.task_done()

    async def _post(self, action: Create | Count) -> int:
        """The HTTP status of the post (or of the patch of an Event that happened again)."""
        event = _create(action)
        events = f"/api/v1/namespaces/{event.involved.namespace}/events"
        if isinstance(action, Count):
            patch = {"count": event.count, "message": event.message, "lastTimestamp": rfc3339(event.last)}
            status = await self._api.request("PATCH", f"{events}/{event.name}", patch,
                                             content_type="application/merge-patch+json")
            if status != 404:  # gone (Events expire after an hour): post it anew
                return status
        return await self._api.request("POST", events, event_body(event, self._instance))


def action_uid(action: Create | Count) -> str:
    return _create(action).involved.uid


def _create(action: Create | Count) -> Create:
    return action.create if isinstance(action, Count) else action
