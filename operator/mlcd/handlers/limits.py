"""Blocking calls made for a namespace: each with a timeout, each namespace with a bounded share of threads.

A stat of a tenant's object, a read of its Secret, a write of its champion can hang on a slow or hostile
endpoint. They run in the operator's own thread pool, a namespace never holds more than its share of
it, and the caller stops waiting at the timeout. A call that timed out keeps its thread (Python cannot
stop one) and its namespace's slot until it ends: that is exactly what keeps one namespace's stuck
calls from taking the threads of the others.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
# Reconciles of one namespace under way at once (the poller's queue and the reconciler both keep to it);
# the rest wait, holding nothing but their body.
RECONCILES_PER_NAMESPACE = 16


class CallTimeout(Exception):
    """A call made for a namespace did not end in time (its thread may still be busy)."""


class NamespacePool:
    def __init__(self, workers: int = 16, per_namespace: int = 4, timeout: float = 30.0):
        if not 1 <= per_namespace <= workers:
            raise ValueError("per_namespace must be between 1 and workers")
        self.timeout = timeout
        self.per_namespace = per_namespace
        self.workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._slots: dict[str, asyncio.Semaphore] = {}

    async def run(self, namespace: str, call: Callable[..., T], *args, timeout: float | None = None) -> T:
        """call(*args) in a thread of the pool, counted against ``namespace``; CallTimeout when waiting for
        a slot and the call together take longer than ``timeout`` (the pool's default when None)."""
        limit = self.timeout if timeout is None else timeout
        slots = self._slots.setdefault(namespace, asyncio.Semaphore(self.per_namespace))
        try:
            async with asyncio.timeout(limit):
                await slots.acquire()
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="mlcd-ns")
                future = asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(call, *args))
                future.add_done_callback(functools.partial(_settled, slots))
                return await asyncio.shield(future)
        except TimeoutError:
            name = getattr(call, "__name__", "call")
            raise CallTimeout(f"{name} for namespace {namespace} took longer than {limit:g}s") from None

    def shutdown(self) -> None:
        """Stop taking calls; the next call starts a new pool (an operator restarted in the same process)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._slots.clear()


def _settled(slots: asyncio.Semaphore, future: asyncio.Future) -> None:
    slots.release()
    if not future.cancelled():
        future.exception()  # retrieved: a call nobody waits for any more must not be reported as unhandled
