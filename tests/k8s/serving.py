"""Serving an emulator on 127.0.0.1 from its own thread and event loop.

The official ``kubernetes`` client is synchronous: if the emulator shared the test's event loop,
the first blocking call would deadlock it. So the emulator gets a thread of its own, and tests
reach its state through :meth:`ServedEmulator.call`, which runs code inside that loop.

kmock's ``Server`` is not used: it also installs a process-wide aiohttp DNS interceptor, which
must be exited in LIFO order and cannot be shared safely between threads.
"""

import asyncio
import concurrent.futures
import pathlib
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import aiohttp.web
import kmock
import yaml

from tests.k8s.emulator import Emulator

T = TypeVar("T")
START_TIMEOUT = 10.0
LOAD_TIMEOUT = 120.0


class ServedEmulator:
    """An emulator (ours or any kmock handler) listening on 127.0.0.1 at a free port."""

    def __init__(self, handler: kmock.RawHandler | None = None) -> None:
        self.handler = handler if handler is not None else Emulator()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"k8s-emulator-{self.port}", daemon=True)

    @property
    def emulator(self) -> Emulator:
        if not isinstance(self.handler, Emulator):
            raise TypeError(f"{type(self.handler).__name__} is not tests.k8s.Emulator")
        return self.handler

    def start(self) -> "ServedEmulator":
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT) or self._failure is not None:
            raise RuntimeError(f"the emulator did not start on {self.url}") from self._failure
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(START_TIMEOUT)
        if self._thread.is_alive():
            raise RuntimeError(f"the emulator on {self.url} did not stop")

    def __enter__(self) -> "ServedEmulator":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = START_TIMEOUT, **kwargs: Any) -> T:
        """Run ``fn`` inside the emulator's loop (where its state lives) and return its result."""
        assert self._loop is not None, "the emulator is not running"

        async def inside() -> T:
            return fn(*args, **kwargs)

        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(inside(), self._loop)
        return future.result(timeout)

    def load_crds(self, files: Iterable[str | pathlib.Path]) -> list[dict[str, Any]]:
        # Parsing KServe's 2 MB CRD takes about a second of CPU, far longer on a loaded machine.
        return self.call(self.emulator.load_crds, [str(path) for path in files], timeout=LOAD_TIMEOUT)

    def write_kubeconfig(self, path: pathlib.Path, namespace: str = "default") -> pathlib.Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": "emulator"}}],
            "contexts": [
                {
                    "name": "emulator",
                    "context": {"cluster": "emulator", "user": "emulator", "namespace": namespace},
                }
            ],
            "current-context": "emulator",
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:  # reported to the starting thread; nothing else can see it
            self._failure = e
            self._ready.set()
        finally:
            self._socket.close()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        async with self.handler:
            # handler_cancellation: a client that hangs up ends its watch handler (and subscription).
            server = aiohttp.web.Server(self.handler, handler_cancellation=True)
            runner = aiohttp.web.ServerRunner(server, shutdown_timeout=1.0)
            await runner.setup()
            await aiohttp.web.SockSite(runner, self._socket).start()
            self._ready.set()
            try:
                await self._stopping.wait()
            finally:
                if isinstance(self.handler, Emulator):
                    self.handler.close_watches()
                await runner.cleanup()
