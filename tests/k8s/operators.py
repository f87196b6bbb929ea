"""Running an operator against the emulator: kopf in-process, or any command as a subprocess."""

import asyncio
import os
import pathlib
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence

import kopf
from kopf._cogs.structs import credentials

from tests.kopf_settings import quick_settings

STOP_TIMEOUT = 10.0
# A deadline, not a timing: the startup warms up scikit-learn and the compiler, seconds on a loaded machine.
START_TIMEOUT = 120.0


class InProcessOperator:
    """``kopf.operator()`` in a thread with its own loop, registry and credentials.

    The credentials point straight at ``server``, so the operator neither reads a kubeconfig nor
    touches the global ``kubernetes`` client configuration of the test process.
    """

    def __init__(
        self,
        server: str,
        registry: kopf.OperatorRegistry,
        settings: kopf.OperatorSettings | None = None,
        namespaces: Sequence[str] = (),
        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
    ) -> None:
        """loop_factory: the event loop to run in (e.g. ``uvloop.new_event_loop``, as ``kopf run`` and
        ``mlcd operator`` use when uvloop is installed); asyncio's own by default."""
        self.server = server
        self.registry = registry
        self.loop_factory = loop_factory
        self.settings = settings if settings is not None else quick_settings()
        self.namespaces = list(namespaces)
        self.failure: BaseException | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kopf-operator", daemon=True)

    def start(self, timeout: float = START_TIMEOUT) -> "InProcessOperator":
        self._thread.start()
        if not self._ready.wait(timeout) or self.failure is not None:
            raise RuntimeError("the operator did not become ready") from self.failure
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():
            raise RuntimeError("the operator did not stop")
        if self.failure is not None:
            raise RuntimeError("the operator failed") from self.failure

    def __enter__(self) -> "InProcessOperator":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=self.loop_factory) as runner:
                runner.run(self._operate())
        except BaseException as e:  # reported by stop(); the thread has nobody else to tell
            self.failure = e
            self._ready.set()

    async def _operate(self) -> None:
        vault = credentials.Vault({"emulator": credentials.ConnectionInfo(server=self.server)})
        await kopf.operator(
            registry=self.registry,
            settings=self.settings,
            standalone=True,
            clusterwide=not self.namespaces,
            namespaces=self.namespaces,
            stop_flag=self._stop,
            ready_flag=self._ready,
            vault=vault,
        )


class OperatorProcess:
    """A command (e.g. ``mlcd operator --standalone``) run with KUBECONFIG pointing at the emulator."""

    def __init__(
        self,
        argv: Sequence[str],
        kubeconfig: pathlib.Path,
        log_path: pathlib.Path,
        env: Mapping[str, str] | None = None,
        cwd: pathlib.Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.env = {**os.environ, **(env or {}), "KUBECONFIG": str(kubeconfig)}
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "OperatorProcess":
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """SIGTERM (kopf shuts down gracefully on it), then SIGKILL after a deadline; the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        return self.process.returncode

    def __enter__(self) -> "OperatorProcess":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
