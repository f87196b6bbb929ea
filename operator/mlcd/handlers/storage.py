"""A namespace's storage identity: its Secret, read through the API when the operator must touch storage
for an object of that namespace (a HEAD for a fingerprint, the champion, a run's record).

One read serves the namespace for ``FRESH_SECONDS``: a thousand TrainingRuns of one team due at once
read their Secret once, not a thousand times, and concurrent asks share the read under way. A Secret
created, fixed or rotated is seen within that time; a failed read is never kept (the next ask reads
again), and at most ``NAMESPACES_KEPT`` namespaces are kept.

The operator's own environment holds no tenant credential: what it reaches in object storage, it
reaches as the namespace it acts for, and the store's own access rules separate the teams. The
Secret's values go to the storage client and nowhere else (not logs, status or Events).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

import urllib3
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from mlcd.api.v1alpha1.vocabulary import Reason
from mlcd.handlers.limits import CallTimeout, NamespacePool
from mlcd.storage.s3 import ACCESS_KEY, ENDPOINT, REGION, SECRET_KEY, SECURE

# The kubernetes client logs the body of every response at DEBUG (kubernetes/client/rest.py), a Secret's data
# included: whatever level the operator runs at (`--verbose` puts the root logger at DEBUG), that logger
# stays at INFO.
logging.getLogger("kubernetes.client.rest").setLevel(logging.INFO)

REQUIRED_KEYS = (ENDPOINT, ACCESS_KEY, SECRET_KEY)
OPTIONAL_KEYS = (REGION, SECURE)
_READ_TIMEOUT_SECONDS = 10
FRESH_SECONDS = 30.0
NAMESPACES_KEPT = 1024


class StorageUnavailable(Exception):
    """The namespace's storage identity cannot be had; ``reason`` is the StorageReady reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class StorageIdentities:
    def __init__(self, secret_name: str, pool: NamespacePool, client: Callable[[], ApiClient],
                 clock: Callable[[], float] = time.monotonic):
        self.secret_name = secret_name
        self._pool = pool
        self._client = client
        self._clock = clock
        self._read_at: OrderedDict[str, tuple[float, dict[str, str]]] = OrderedDict()
        self._reading: dict[str, asyncio.Future] = {}

    async def environ(self, namespace: str) -> dict[str, str]:
        """The storage settings of ``namespace``, keyed as the variables a pipeline step gets."""
        kept = self._read_at.get(namespace)
        if kept is not None and self._clock() - kept[0] < FRESH_SECONDS:
            return dict(kept[1])
        reading = self._reading.get(namespace)
        if reading is None:
            reading = self._reading[namespace] = asyncio.ensure_future(self._read_now(namespace))
            reading.add_done_callback(lambda _: self._reading.pop(namespace, None))
        return dict(await asyncio.shield(reading))

    async def _read_now(self, namespace: str) -> dict[str, str]:
        try:
            values = await self._pool.run(namespace, self._read, namespace)
        except CallTimeout:
            raise StorageUnavailable(Reason.SECRET_UNREADABLE, f"reading Secret {self.secret_name} in namespace "
                                                         f"{namespace} timed out") from None
        self._read_at[namespace] = (self._clock(), values)
        self._read_at.move_to_end(namespace)
        while len(self._read_at) > NAMESPACES_KEPT:
            self._read_at.popitem(last=False)
        return values

    def _read(self, namespace: str) -> dict[str, str]:
        where = f"Secret {self.secret_name} in namespace {namespace}"
        try:
            secret = CoreV1Api(self._client()).read_namespaced_secret(
                self.secret_name, namespace, _request_timeout=_READ_TIMEOUT_SECONDS)
        except ApiException as exc:
            if exc.status == 404:
                raise StorageUnavailable(Reason.SECRET_MISSING, f"{where} does not exist: create it with the keys "
                                         f"{', '.join(REQUIRED_KEYS)} (and optionally {', '.join(OPTIONAL_KEYS)})"
                                         ) from None
            if exc.status == 403:
                raise StorageUnavailable(Reason.SECRET_UNREADABLE, f"the operator may not read {where} (RBAC: get "
                                         f"secrets with resourceNames [{self.secret_name}])") from None
            raise StorageUnavailable(Reason.SECRET_UNREADABLE, f"reading {where} failed: HTTP {exc.status}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # no answer: refused, reset, timed out
            raise StorageUnavailable(Reason.SECRET_UNREADABLE, f"reading {where} failed: the API server did not "
                                     f"answer ({type(exc).__name__})") from None
        values = {}
        for key, encoded in (secret.data or {}).items():
            if key in REQUIRED_KEYS + OPTIONAL_KEYS:
                try:
                    values[key] = base64.b64decode(encoded, validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    raise StorageUnavailable(Reason.SECRET_INVALID, f"{where}: key {key} is not base64 of UTF-8 text"
                                             ) from None
        missing = [key for key in REQUIRED_KEYS if not values.get(key)]
        if missing:
            raise StorageUnavailable(Reason.SECRET_INVALID, f"{where} lacks the keys {', '.join(missing)}")
        return values
