"""Watch fan-out with resumption (API concepts: "Efficient detection of changes").

Every change gets the resourceVersion the write produced. A watch that names a
resourceVersion receives exactly the changes after it, then live ones; one that names none
(or "0") first receives the current objects as ADDED. Only the last ``history`` changes per
resource are kept: resuming from an older version yields a 410 Gone ERROR event, as the API
server does once etcd has compacted that revision, and clients must relist.
"""

import asyncio
import collections
from dataclasses import dataclass
from typing import Any

import kmock


@dataclass(frozen=True)
class Change:
    revision: int
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


class Expired(Exception):
    pass


class WatchHub:
    def __init__(self, history: int) -> None:
        self._history = history
        self._log: dict[kmock.resource, collections.deque[Change]] = collections.defaultdict(
            lambda: collections.deque(maxlen=history)
        )
        self._forgotten: dict[kmock.resource, int] = collections.defaultdict(int)
        self._queues: dict[kmock.resource, set[asyncio.Queue[Change | None]]] = collections.defaultdict(set)

    def publish(self, resource: kmock.resource, change: Change) -> None:
        log = self._log[resource]
        if len(log) == self._history:
            self._forgotten[resource] = log[0].revision
        log.append(change)
        for queue in self._queues[resource]:
            queue.put_nowait(change)

    def subscribe(self, resource: kmock.resource, since: int) -> tuple[list[Change], asyncio.Queue[Change | None]]:
        """The logged changes after ``since`` and a queue of the live ones, taken atomically."""
        if since < self._forgotten[resource]:
            raise Expired()
        backlog = [change for change in self._log[resource] if change.revision > since]
        queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self._queues[resource].add(queue)
        return backlog, queue

    def unsubscribe(self, resource: kmock.resource, queue: asyncio.Queue[Change | None]) -> None:
        self._queues[resource].discard(queue)

    def close(self) -> None:
        """End every open stream (server shutdown)."""
        for queues in self._queues.values():
            for queue in queues:
                queue.put_nowait(None)
