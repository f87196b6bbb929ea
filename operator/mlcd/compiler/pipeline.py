"""The pipeline's structure. It depends only on the shape of a spec; every value is a parameter."""

import inspect
from dataclasses import dataclass
from types import SimpleNamespace
from typing import NamedTuple

from kfp import dsl, kubernetes

from mlcd.compiler.parameters import PARAMETERS
from mlcd_components import kfp_components

PIPELINE_NAME = "mlcd-training"
# The keys of the storage Secret are the variables' own names (as in the chart's values.yaml). Region
# and TLS have defaults, so a Secret may leave them out; without the other three no step can reach S3.
S3_SECRET_KEYS = ("MLCD_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
S3_SECRET_OPTIONAL_KEYS = ("AWS_REGION", "MLCD_S3_SECURE")


@dataclass(frozen=True)
class Shape:
    """What decides which steps exist. Two specs of one shape share one compiled structure."""

    image: str
    s3_secret: str = ""  # the Kubernetes Secret with the storage settings; "" when steps inherit them (local)
    handoff: bool = False  # spec.deploy.modelDeployment is set: a last step points it at the new version
    drift: bool = False  # spec.retrain.drift is set: a step reports the data's drift from the champion's
    tuning: int = 0  # spec.tuning.parallelism, 0 without a search: a ParallelFor's width is fixed in the IR
    # Values KFP takes only as constants: a Pod's activeDeadlineSeconds, and whether a step has an
    # accelerator, a nodeSelector or tolerations at all. What they are is a pipeline parameter.
    train_timeout: int = 7200
    step_timeout: int = 1800
    train_accelerator: bool = False
    steps_accelerator: bool = False
    node_selector: bool = False
    tolerations: bool = False


class Outputs(NamedTuple):
    metrics: str
    gates: str
    model_uri: str
    version: int
    model_sha256: str


class TunedOutputs(NamedTuple):
    metrics: str
    gates: str
    model_uri: str
    version: int
    model_sha256: str
    tuning: str  # the search: best params, score, metric and every trial (JSON)


def build(shape: Shape):
    c = kfp_components.build(shape.image)

    def training(p: SimpleNamespace) -> Outputs:
        ingest = c.ingest(source=p.data_source, data_format=p.data_format)
        drift = None
        if shape.drift:
            drift = c.drift(dataset=ingest.outputs["dataset"], registry_uri=p.registry_uri, method=p.drift_method,
                            threshold=p.drift_threshold)
        checked = c.check_data(
            dataset=ingest.outputs["dataset"], target=p.target, features=p.features, checks=p.checks,
            test_fraction=p.test_fraction, seed=p.seed, kind=p.kind,
        )
        if drift is not None:
            checked.after(drift)  # it compares with the champion before this run may replace it
        params_json, selected, tuned = p.params_json, None, []
        if shape.tuning:
            with dsl.ParallelFor(p.tuning_chunks, parallelism=shape.tuning, name="trials") as chunk:
                tune = c.tune(
                    train_set=checked.outputs["train_set"], target=p.target, estimator=p.estimator,
                    params_json=p.params_json, preprocessing=p.preprocessing, seed=p.seed, kind=p.kind,
                    metric=p.tuning_metric, folds=p.tuning_folds, jobs=p.tuning_jobs, chunk=chunk,
                )
                tuned.append(tune)
            selected = c.select(chunks=dsl.Collected(tune.outputs["Output"]), metric=p.tuning_metric,
                                params_json=p.params_json)
            params_json = selected.outputs["params_json"]
        trained = c.train(
            train_set=checked.outputs["train_set"], target=p.target, estimator=p.estimator, params_json=params_json,
            preprocessing=p.preprocessing, seed=p.seed,
        )
        evaluated = c.evaluate(
            model=trained.outputs["model"], test_set=checked.outputs["test_set"], target=p.target, kind=p.kind,
        )
        gated = c.gate(metrics_json=evaluated.outputs["Output"], gates=p.gates, registry_uri=p.registry_uri)
        with dsl.If(gated.outputs["passed"] == True, name="gates-passed"):  # noqa: E712 (a KFP condition)
            registered = c.register(
                model=trained.outputs["model"], registry_uri=p.registry_uri, metrics_json=evaluated.outputs["Output"],
                gate_results=gated.outputs["results"], data_json=ingest.outputs["Output"],
                signature=checked.outputs["signature"], reference=checked.outputs["reference"],
                estimator=p.estimator, params_json=params_json,
                preprocessing=p.preprocessing, run_namespace=p.run_namespace, run_name=p.run_name,
                run_generation=p.run_generation, run_trigger=p.run_trigger, run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                promote=p.promote, run_key=p.run_key,
                **({"tuning_json": selected.outputs["tuning_json"]} if selected else {}),
            )
            handoff = None
            if shape.handoff:
                # Needs no storage settings: it writes to the Kubernetes API only (see handoff.py).
                handoff = c.handoff(model_deployment=p.model_deployment, namespace=p.run_namespace,
                                    model_uri=registered.outputs["model_uri"],
                                    model_sha256=registered.outputs["model_sha256"], run_name=p.run_name,
                                    promote=p.promote).set_caching_options(False)
        with dsl.Else(name="gates-failed"):
            rejected = c.reject(gate_results=gated.outputs["results"], metrics_json=evaluated.outputs["Output"],
                                registry_uri=p.registry_uri, run_key=p.run_key,
                                **({"tuning_json": selected.outputs["tuning_json"]} if selected else {}),
                                ).set_display_name("rejected")
        storing = [ingest, checked, trained, evaluated, gated, registered, rejected, *tuned,
                   *([selected] if selected else []), *([drift] if drift else [])]
        for task in storing:
            # Data behind a URI changes, and gate and register depend on the registry:
            # a cached step would silently reuse a stale answer.
            task.set_caching_options(False)
        if shape.s3_secret:
            # Only the steps that read the data or the registry see the namespace's storage credentials;
            # check-data, tune, select, train and evaluate work on KFP artifacts and get none.
            for task in (ingest, gated, registered, rejected, *([drift] if drift else [])):
                _storage_from_secret(task, shape.s3_secret)
        for task in [*storing, *([handoff] if handoff else [])]:
            _bound(task, p, shape, "train" if task in (trained, *tuned) else "steps")
        outputs = (evaluated.outputs["Output"], gated.outputs["results"],
                   dsl.OneOf(registered.outputs["model_uri"], rejected.outputs["model_uri"]),
                   dsl.OneOf(registered.outputs["version"], rejected.outputs["version"]),
                   dsl.OneOf(registered.outputs["model_sha256"], rejected.outputs["model_sha256"]))
        return TunedOutputs(*outputs, selected.outputs["tuning_json"]) if selected else Outputs(*outputs)

    return dsl.pipeline(_declared(training, TunedOutputs if shape.tuning else Outputs), name=PIPELINE_NAME,
                        description="mlcd: ingest, check, train, evaluate, gate and register a model")


def _bound(task, p: SimpleNamespace, shape: Shape, group: str) -> None:
    """Resources, accelerator, placement and timeout of a step: none runs unbounded (spec.resources,
    spec.nodeSelector, spec.tolerations, spec.timeouts), each set with KFP's own setters."""
    value = {name: getattr(p, f"{group}_{name}") for name in (
        "cpu_request", "cpu_limit", "memory_request", "memory_limit", "accelerator_type", "accelerator_count")}
    task.set_cpu_request(value["cpu_request"]).set_cpu_limit(value["cpu_limit"])
    task.set_memory_request(value["memory_request"]).set_memory_limit(value["memory_limit"])
    used = ["cpu_request", "cpu_limit", "memory_request", "memory_limit"]
    if getattr(shape, f"{group}_accelerator"):
        task.set_accelerator_type(value["accelerator_type"]).set_accelerator_limit(value["accelerator_count"])
        used += ["accelerator_type", "accelerator_count"]
    # The setters keep a parameter only as a placeholder string; registered, it also reaches a task that
    # runs inside a ParallelFor (whose sub-DAG receives only the channels its tasks declare).
    task.register_pipeline_channels([value[name] for name in used])
    if shape.node_selector:
        kubernetes.add_node_selector_json(task, p.node_selector)
    if shape.tolerations:
        kubernetes.add_toleration_json(task, p.tolerations)
    kubernetes.set_timeout(task, shape.train_timeout if group == "train" else shape.step_timeout)


DRIFT_CHECK_NAME = "mlcd-drift-check"
DRIFT_CHECK_STEP_SECONDS = 3600  # each step of a drift check ends within this, however large the data


def build_drift_check(image: str, s3_secret: str):
    """The drift check the operator runs in the tenant's namespace (it never reads a tenant's data itself):
    ingest spec.retrain.drift.current, score it against the champion's reference statistics, record the
    result at REGISTRY/drift/KEY for the operator to read."""
    c = kfp_components.build(image)

    @dsl.pipeline(name=DRIFT_CHECK_NAME, description="mlcd: drift of new data from the champion's training data")
    def drift_check(current: str, data_format: str, registry_uri: str, champion_version: int, method: str,
                    threshold: float, key: str) -> str:
        ingest = c.ingest(source=current, data_format=data_format)
        checked = c.check_drift(dataset=ingest.outputs["dataset"], registry_uri=registry_uri,
                                champion_version=champion_version, method=method, threshold=threshold, key=key)
        for task in (ingest, checked):
            task.set_caching_options(False)
            kubernetes.set_timeout(task, DRIFT_CHECK_STEP_SECONDS)
            if s3_secret:
                _storage_from_secret(task, s3_secret)
        return checked.output

    return drift_check


def _storage_from_secret(task, secret: str) -> None:
    """The step reads its storage settings from the Secret, so no credential is ever a pipeline parameter
    (parameters are stored in KFP's database and shown in its UI)."""
    kubernetes.use_secret_as_env(task, secret, {key: key for key in S3_SECRET_KEYS})
    kubernetes.use_secret_as_env(task, secret, {key: key for key in S3_SECRET_OPTIONAL_KEYS}, optional=True)


def _declared(body, outputs: type):
    """The function KFP reads a pipeline from: one parameter per entry of PARAMETERS, in its order.

    KFP takes a pipeline's inputs from the function's signature and calls it with a channel for each;
    the body gets them by name as `p.NAME`.
    """
    names = [parameter.name for parameter in PARAMETERS]

    def training(*channels):
        return body(SimpleNamespace(**dict(zip(names, channels, strict=True))))

    training.__signature__ = inspect.Signature(
        [inspect.Parameter(p.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=p.type) for p in PARAMETERS],
        return_annotation=outputs)
    return training
