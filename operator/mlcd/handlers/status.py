"""The one status writer of both reconcilers: a whole typed status, sent as a JSON merge patch.

A reconciler decides a whole new status (mlcd.reconcile's plans); the writer sends all of it, with a
null for every field it no longer has (mlcd.reconcile.status.status_patch), so a write the API server
lost heals on the next. The TrainingRun reconcile writes into a kopf patch that the poller sends (for a
watch event's body as for its own looks); the ModelDeployment handler writes through the API client
inside its lock. What the watch has not brought back yet is remembered for a short echo window: a reconcile
of a body read before the last write decides on the status as written, not on the older one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TypeVar

from mlcd.api.v1alpha1 import GROUP, VERSION
from mlcd.api.v1alpha1.base import StatusModel
from mlcd.handlers.compact import deflate, inflate
from mlcd.reconcile.status import clean, status_patch

S = TypeVar("S", bound=StatusModel)


class _Written:
    """A write kept until its echo: when, the generation it acted on, and the status deflated (a few hundred
    bytes instead of ~2 KB of JSON: thousands are kept while a burst's writes come back through a lagging
    watch)."""

    __slots__ = ("at", "generation", "raw")

    def __init__(self, at: float, status: dict):
        generation = status.get("observedGeneration")
        self.at, self.generation = at, generation if isinstance(generation, int) else None
        self.raw = deflate(status)

    def status(self) -> dict:
        return inflate(self.raw)


class StatusWriter:
    def __init__(self, echo_seconds: float = 0.0):
        self.echo_seconds = echo_seconds  # how long our own write may take to come back through the watch
        self._written: OrderedDict[str, _Written] = OrderedDict()  # oldest write first

    def seen(self, body, model: type[S]) -> S:
        """The status to decide on: the body's, or what this writer last wrote if the body predates it.

        A write is kept until the watch brings it back (the body's status then holds all of it), so a
        watch that lags behind an operator under load never makes it decide on an older status; a write
        that has not come back within the echo window is forgotten, so a patch the API server lost is
        redone rather than trusted.
        """
        status = dict(body.get("status") or {})
        uid = body.metadata.uid
        self._prune(time.monotonic())
        written = self._written.get(uid)
        if written is not None:
            kept = written.status()
            if _holds(status, kept) or time.monotonic() - written.at >= self.echo_seconds:
                del self._written[uid]
            else:
                status.update(kept)
        return model.model_validate(clean(status))

    def through_kopf(self, body, patch, new: StatusModel) -> None:
        """Write `new` as the whole status into ``patch`` (a kopf Patch), kept until the watch echoes it."""
        uid = body.metadata.uid
        changes = status_patch(self.seen(body, type(new)), new)
        for key, value in changes.items():
            patch.status[key] = value
        now = time.monotonic()
        self._written.pop(uid, None)
        self._written[uid] = _Written(now, {**{k: None for k in changes}, **new.to_wire()})
        self._prune(now)

    def _prune(self, now: float) -> None:
        """What is older than the echo window is never used again: keep only the writes still in it (the
        oldest first, so this stops at the first one kept). Objects deleted meanwhile leave nothing behind."""
        while self._written and now - next(iter(self._written.values())).at >= self.echo_seconds:
            self._written.popitem(last=False)

    @staticmethod
    def through_api(crs, plural: str, namespace: str, name: str, previous: dict | None, new: StatusModel) -> None:
        """Write `new` as the whole status with the status subresource's merge patch."""
        crs.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, plural, name,
                                                  {"status": status_patch(previous, new)})

    def echoed(self, uid: str, status) -> None:
        """The watch brought the object back with ``status``: a write it already shows is let go."""
        written = self._written.get(uid)
        if written is not None and _holds(status or {}, written.status()):
            del self._written[uid]

    def generation(self, uid: str) -> int | None:
        """The observedGeneration of the write kept for ``uid`` (not back through the watch yet), else None."""
        written = self._written.get(uid)
        if written is None or time.monotonic() - written.at >= self.echo_seconds:
            return None
        return written.generation

    def held(self) -> int:
        """How many writes are kept now (those past the echo window dropped first)."""
        self._prune(time.monotonic())
        return len(self._written)

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)


def _holds(status: dict, written: dict) -> bool:
    """Whether ``status`` (from the watch) already shows the write (None: a field the write removed)."""
    return all(status.get(key) == value for key, value in written.items())
