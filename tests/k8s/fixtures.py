"""Pytest fixtures for tests that need a Kubernetes API (registered in tests/conftest.py).

- ``k8s_emulator``: a fresh :class:`ServedEmulator` on 127.0.0.1 (builtins only; load CRDs with
  ``k8s_emulator.load_crds([...])``); ``k8s_emulator.emulator`` is the kmock handler itself.
- ``kubeconfig``: a kubeconfig file pointing at it (current context, namespace ``default``).
- ``run_operator(registry, settings=None, namespaces=())``: kopf in-process, stopped at teardown
  ($KUBECONFIG names the emulator meanwhile, as for `mlcd operator`).
- ``operator_process(argv, env=None, cwd=None)``: a command with KUBECONFIG set, stopped at teardown.
- ``k8s_api_client``: an official ``kubernetes`` ApiClient configured from that kubeconfig.
- ``wait_for(fetch, predicate, deadline)``: poll instead of sleeping.
"""

import pathlib
from collections.abc import Callable, Iterator, Mapping, Sequence

import kopf
import kubernetes
import pytest

from tests.k8s.operators import InProcessOperator, OperatorProcess
from tests.k8s.serving import ServedEmulator
from tests.k8s.waiting import wait_for as _wait_for


@pytest.fixture
def k8s_emulator() -> Iterator[ServedEmulator]:
    with ServedEmulator() as served:
        yield served


@pytest.fixture
def kubeconfig(k8s_emulator: ServedEmulator, tmp_path: pathlib.Path) -> pathlib.Path:
    return k8s_emulator.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def k8s_api_client(kubeconfig: pathlib.Path) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    with client:
        yield client


@pytest.fixture
def run_operator(k8s_emulator: ServedEmulator, kubeconfig: pathlib.Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., InProcessOperator]]:
    # As `mlcd operator` runs: $KUBECONFIG names the cluster, for the client the handlers make themselves
    # (Secrets, Events); kopf gets the same server through its own credentials.
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    started: list[InProcessOperator] = []

    def run(
        registry: kopf.OperatorRegistry,
        settings: kopf.OperatorSettings | None = None,
        namespaces: Sequence[str] = (),
    ) -> InProcessOperator:
        operator = InProcessOperator(k8s_emulator.url, registry, settings, namespaces)
        started.append(operator)
        return operator.start()

    yield run
    for operator in reversed(started):
        operator.stop()


@pytest.fixture
def operator_process(kubeconfig: pathlib.Path, tmp_path: pathlib.Path) -> Iterator[Callable[..., OperatorProcess]]:
    started: list[OperatorProcess] = []

    def run(
        argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: pathlib.Path | None = None
    ) -> OperatorProcess:
        log_path = tmp_path / f"operator-{len(started)}.log"
        process = OperatorProcess(argv, kubeconfig, log_path, env, cwd)
        started.append(process)
        return process.start()

    yield run
    for process in reversed(started):
        code = process.stop()
        # Shown by pytest only when the test failed: what the operator said, and how it ended.
        print(f"--- {' '.join(process.argv[1:4])}: exit {code}; last lines of {process.log_path.name}:")
        print("\n".join(process.logs().splitlines()[-40:]))


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., object]:
    return _wait_for
