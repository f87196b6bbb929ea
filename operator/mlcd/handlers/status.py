"""The one status writer of both reconcilers: a whole typed status, sent as a JSON merge patch.

A reconciler decides a whole new status (mlcd.reconcile's plans); the writer sends all of it, with a
null for every field it no longer has (mlcd.reconcile.status.status_patch), so a write the API server
lost heals on the next. The TrainingRun handler writes through kopf's patch (kopf sends it after the
handler returns); the ModelDeployment handler writes through the API client
inside its lock. What kopf has not sent back yet is remembered for a short echo window: the poller,
holding a body read before the last write, decides on the status as written, not on the older one.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TypeVar

from mlcd.api.v1alpha1 import GROUP, VERSION
from mlcd.api.v1alpha1.base import StatusModel
from mlcd.reconcile.status import clean, status_patch

S = TypeVar("S", bound=StatusModel)


class StatusWriter:
    def __init__(self, echo_seconds: float = 0.0):
        self.echo_seconds = echo_seconds  # how long our own write may take to come back through the watch
        self._written: OrderedDict[str, tuple[float, dict]] = OrderedDict()  # oldest write first

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
            if _holds(status, written[1]) or time.monotonic() - written[0] >= self.echo_seconds:
                del self._written[uid]
            else:
                status.update(written[1])
        return model.model_validate(clean(status))

    def through_kopf(self, body, patch, new: StatusModel, hold: bool = True) -> None:
        """Write `new` as the whole status through kopf's patch of this handler call.

        hold: keep the write until the watch echoes it. Only the poller can act on a body older than the
        write (kopf runs the event handlers once its own patch is back), so an object it does not look at
        keeps nothing here.
        """
        uid = body.metadata.uid
        changes = status_patch(self.seen(body, type(new)), new)
        for key, value in changes.items():
            patch.status[key] = value
        now = time.monotonic()
        self._written.pop(uid, None)
        if hold:
            self._written[uid] = (now, {**{k: None for k in changes}, **new.to_wire()})
        self._prune(now)

    def _prune(self, now: float) -> None:
        """What is older than the echo window is never used again: keep only the writes still in it (the
        oldest first, so this stops at the first one kept). Objects deleted meanwhile leave nothing behind."""
        while self._written and now - next(iter(self._written.values()))[0] >= self.echo_seconds:
            self._written.popitem(last=False)

    @staticmethod
    def through_api(crs, plural: str, namespace: str, name: str, previous: dict | None, new: StatusModel) -> None:
        """Write `new` as the whole status with the status subresource's merge patch."""
        crs.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, plural, name,
                                                  {"status": status_patch(previous, new)})

    def echoed(self, uid: str, status) -> None:
        """The watch brought the object back with ``status``: a write it already shows is let go."""
        written = self._written.get(uid)
        if written is not None and _holds(status or {}, written[1]):
            del self._written[uid]

    def held(self) -> int:
        """How many writes are kept now (those past the echo window dropped first)."""
        self._prune(time.monotonic())
        return len(self._written)

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)


def _holds(status: dict, written: dict) -> bool:
    """Whether ``status`` (from the watch) already shows the write (None: a field the write removed)."""
    return all(status.get(key) == value for key, value in written.items())
