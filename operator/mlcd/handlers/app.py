"""The kopf registry of the mlcd operator and its settings: the only place that wires kopf up."""

from __future__ import annotations

import asyncio
import logging

import kopf

from mlcd.api.v1alpha1 import GROUP, VERSION
from mlcd.api.v1alpha1.vocabulary import TrainingRunPhase
from mlcd.backends.base import Backend
from mlcd.handlers import metrics, modeldeployment
from mlcd.handlers.config import FINALIZER, OperatorConfig
from mlcd.handlers.events import EventRecorder
from mlcd.handlers.kube import LazyClient, event_loop_factory
from mlcd.handlers.limits import RECONCILES_PER_NAMESPACE, NamespacePool
from mlcd.handlers.poller import Poller
from mlcd.handlers.storage import StorageIdentities
from mlcd.handlers.trainingrun import TrainingRunReconciler

PREFIX = "mlcd.io"


def make_backend(config: OperatorConfig) -> Backend:
    if config.backend == "kfp":
        from mlcd.backends.kfp import KfpBackend

        return KfpBackend(config.kfp_host, experiment_name=config.kfp_experiment,
                          service_account=config.kfp_service_account, ui_url=config.kfp_ui_url)
    if config.backend == "local":
        from mlcd.backends.queue import LocalQueueBackend

        return LocalQueueBackend(config.home)
    raise ValueError(f"unknown backend {config.backend!r}; expected kfp or local")


def runs_in_flight(status) -> bool:
    """A TrainingRun whose run is in flight, as its status says (what the caps on runs in flight count)."""
    status = status or {}
    return status.get("phase") in TrainingRunPhase.IN_FLIGHT and bool((status.get("pipeline") or {}).get("runName"))


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf's bookkeeping under mlcd's own name, so status stays ours and strict."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration")
    settings.persistence.finalizer = FINALIZER
    # mlcd posts its own Events, one per transition; kopf adds one only for a handler's error.
    settings.posting.level = logging.ERROR
    settings.peering.standalone = True
    settings.networking.request_timeout = 30
    settings.watching.server_timeout = 300
    # A deleted object waits for its timer to finish the reconcile under way before kopf removes the
    # finalizer: wait for it in process (a reconcile is bounded by the call timeouts), then look again
    # every few seconds, not kopf's default of once a minute (a deletion would hang for 60 s).
    settings.background.instant_exit_timeout = 5.0
    settings.background.cancellation_polling = 2.0


def warm_up() -> None:
    """Import scikit-learn's estimator list and build the pipeline structure before the first object
    arrives, off the event loop: the first validation and compile would otherwise stall it for seconds."""
    from mlcd.api.v1alpha1.validation import validate_document
    from mlcd.compiler import compile_trainingrun

    sample = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TrainingRun", "metadata": {"name": "warm-up"},
              "spec": {"data": {"source": "builtin://iris"},
                       "model": {"estimator": "RandomForestClassifier", "params": {"n_estimators": 10}}}}
    compile_trainingrun(validate_document(sample).resource, registry_uri="file:///warm-up")


def build_registry(config: OperatorConfig, backend: Backend | None = None,
                   kube_client=None) -> kopf.OperatorRegistry:
    """kube_client: the kubernetes ApiClient of the ModelDeployment handlers; by default one from the
    service account or kubeconfig (kopf's login gives credentials to kopf only)."""
    registry = kopf.OperatorRegistry()
    # Blocking calls made for a namespace share this pool, each namespace within its bounded share.
    pool = NamespacePool(config.workers, config.namespace_workers, config.call_timeout_seconds)
    client = LazyClient(kube_client)
    identities = StorageIdentities(config.storage_secret, pool, client)
    events = EventRecorder(client)
    reconciler = TrainingRunReconciler(config, backend or make_backend(config), pool, identities, events)
    poller = Poller(reconciler.reconcile, reconciler.writer.forget, client, config.poll_seconds,
                    states=reconciler.run_states,
                    free_slots=lambda: reconciler.admission.free_slots(reconciler.in_flight),
                    per_namespace=RECONCILES_PER_NAMESPACE, written=reconciler.writer.generation)
    metrics.QUEUE_DEPTH.set_function(poller.queued)
    resource = dict(group=GROUP, version=VERSION, plural="trainingruns")

    @kopf.on.startup(registry=registry)
    async def _startup(settings: kopf.OperatorSettings, logger, mlcd_runs_in_flight=None, **_):
        configure(settings)
        await asyncio.to_thread(warm_up)
        reconciler.in_flight = mlcd_runs_in_flight
        poller.start()
        logger.info("mlcd operator starting backend=%s namespaces=%s", config.backend,
                    ",".join(config.namespaces) or "*")

    @kopf.on.login(registry=registry)
    def _login(**kwargs):
        # In a pod: its service account; elsewhere: the current kubeconfig context ($KUBECONFIG honoured).
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    # The index functions are coroutines: kopf runs a plain function in its thread pool, a thread hop per
    # watch event for a dict of one key. An index costs a call on every watch event: the runs in flight are
    # indexed only when there is a cap to count them against.
    if reconciler.admission.caps.capped:
        # kopf fills an index before any handler runs: the caps on runs in flight hold from the first admission.
        # kopf keeps an index entry while its handler returns None: a `when` filter is what purges it.
        @kopf.index(**resource, id="mlcd_runs_in_flight", registry=registry,
                    when=lambda status, **_: runs_in_flight(status))
        async def mlcd_runs_in_flight(namespace, name, **_):
            return {namespace: name}

    # One handler of every watch event, and only a dict update for most of them. A watch event starts a
    # reconcile only for a generation not acted on yet (new, or its spec changed): level-triggered on
    # status.observedGeneration, not on kopf's change detection, so kopf neither annotates the object with its
    # last-handled spec nor writes its progress (one write per transition, ours). The body goes to the
    # poller's queue and kopf's worker returns at once: a burst of new objects waits there as deflated bodies,
    # a few of a namespace reconciled at a time, namespaces in turn. What can change without an event (a run
    # in flight, a queue, a retry, retraining) the poller follows: it keeps the latest body of each such
    # TrainingRun (one task for all, no timer and no finalizer per object) and a reconcile that asks to be
    # retried is looked at again by it, so nothing is raised to kopf. A status write of ours that the watch
    # has brought back is let go here, not an interval later.
    @kopf.on.event(**resource, registry=registry)
    async def _watched(body, type, uid, status, **_):
        if type != "DELETED":
            reconciler.writer.echoed(uid, status)
        poller.watched(body, type)

    # Only a TrainingRun that asks for it gets the finalizer: deleting the others costs nothing.
    @kopf.on.delete(**resource, registry=registry, when=lambda spec, **_: spec.get("deletePolicy") == "stopRuns")
    async def _deleted(body, logger, **_):
        await reconciler.stop_on_delete(body, logger)

    # The reconciler keeps nothing for an object between reconciles but a write the poller may still need
    # (for the echo window at most), and the Event correlator keeps a bounded number of objects.

    # ModelDeployments: one InferenceService each, rolled out as a canary, promoted or rolled back.
    modeldeployment.register(registry, config, client, pool, identities, events)

    @kopf.on.cleanup(registry=registry)
    async def _cleanup(**_):
        await poller.stop()
        await events.close()
        pool.shutdown()

    return registry


def run(config: OperatorConfig, log_format: str = "full", verbose: bool = False) -> None:
    """`mlcd operator`: the operator against the current kubeconfig, until stopped."""
    logging.getLogger().handlers.clear()  # one handler, kopf's, in the chosen format
    kopf.configure(verbose=verbose, log_format=kopf.LogFormat[log_format.upper()])
    if config.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(config.metrics_port, addr="0.0.0.0")  # noqa: S104 (scraped from inside the cluster)
    liveness = f"http://0.0.0.0:{config.liveness_port}/healthz" if config.liveness_port else None
    logging.getLogger("mlcd").setLevel(logging.DEBUG if verbose else logging.INFO)
    factory = event_loop_factory()
    kopf.run(registry=build_registry(config), standalone=True, clusterwide=not config.namespaces,
             namespaces=list(config.namespaces), liveness_endpoint=liveness, loop=factory() if factory else None)
