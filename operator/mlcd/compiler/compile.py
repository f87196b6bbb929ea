"""Compile a TrainingRun: structure from a per-shape cache, values filled in as parameter defaults."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field

import yaml

import mlcd
from mlcd.api.v1alpha1 import TrainingRun
from mlcd.compiler import parameters
from mlcd.compiler.pipeline import Shape, build, build_drift_check

DEFAULT_IMAGE = f"ghcr.io/mlcd-io/mlcd-components:{mlcd.__version__}"
IMAGE_ENV = "MLCD_COMPONENT_IMAGE"
S3_SECRET_ENV = "MLCD_S3_SECRET_NAME"
_VOLATILE = ("sdkVersion",)


def component_image() -> str:
    return os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE


def s3_secret_name() -> str:
    """The Secret whose keys become the steps' storage settings; unset on a laptop, where steps inherit them."""
    return os.environ.get(S3_SECRET_ENV, "").strip()


@dataclass(frozen=True)
class CompiledPipeline:
    """`ir` is the pipeline spec (what the local runner takes); `platform_spec` holds the Kubernetes
    settings of the steps (the storage Secret), empty when there are none."""

    ir: dict
    spec_hash: str
    arguments: dict
    platform_spec: dict = field(default_factory=dict)

    @functools.cached_property
    def yaml(self) -> str:
        # Serialising costs ~10 ms; the operator submits the dict and only `mlcd compile` writes YAML.
        return dump_ir(self.ir, self.platform_spec)

    @property
    def pipeline_document(self) -> dict:
        """The pipeline as KFP's REST API takes it in `pipeline_spec` (as kfp.Client sends a package)."""
        if not self.platform_spec:
            return self.ir
        return {"pipeline_spec": self.ir, "platform_spec": self.platform_spec}


@functools.lru_cache(maxsize=16)
def _structure(shape: Shape) -> tuple[dict, dict]:
    from google.protobuf import json_format

    pipeline = build(shape)
    return json_format.MessageToDict(pipeline.pipeline_spec), json_format.MessageToDict(pipeline.platform_spec)


def pipeline_arguments(tr: TrainingRun, trigger: str = "manual", registry_uri: str | None = None,
                       promote: bool | None = None, run_key: str = "") -> dict:
    """The values of one TrainingRun, named as the pipeline's parameters.

    promote: make a registered version the champion at once. By default only when no
    ModelDeployment takes the hand-off (a rollout then decides when it is promoted).
    run_key: the run's own name; its last step records the outcome at REGISTRY/runs/KEY.json.
    """
    spec = tr.spec
    if promote is None:
        promote = spec.deploy.model_deployment is None
    return parameters.arguments(parameters.Run(tr, trigger, registry_uri or spec.registry.uri or "", promote, run_key))


def _fill(structure: dict, arguments: dict) -> dict:
    """A new IR whose root parameters default to the values (every one has a value); the rest is shared
    with the cache, unchanged."""
    defined = structure["root"]["inputDefinitions"]["parameters"]
    params = {name: {**spec, "defaultValue": copy.deepcopy(arguments[name]), "isOptional": True}
              for name, spec in defined.items()}
    root = {**structure["root"], "inputDefinitions": {**structure["root"]["inputDefinitions"], "parameters": params}}
    return {**structure, "root": root}


def dump_ir(ir: dict, platform_spec: dict | None = None) -> str:
    """One YAML document, or two when there is a platform spec: the layout kfp's Compiler writes and
    KFP's API server and kfp.Client read (pipeline spec first). PyYAML sorts keys and writes block style
    by default; long values wrap at 120 columns."""
    documents = [ir, platform_spec] if platform_spec else [ir]
    return yaml.safe_dump_all(documents, width=120)


@functools.lru_cache(maxsize=16)
def _structure_digest(shape: Shape) -> str:
    pipeline, platform = _structure(shape)
    stable = {k: v for k, v in pipeline.items() if k not in _VOLATILE}
    return hashlib.sha256(json.dumps([stable, platform], sort_keys=True).encode()).hexdigest()


# The arguments name the run (run_key), so a hit is the same run compiled again (a retried submit): a
# few entries serve that; thousands would keep every run's IR in the operator's memory.
@functools.lru_cache(maxsize=64)
def _compile_cached(arguments_json: str, shape: Shape) -> CompiledPipeline:
    arguments = json.loads(arguments_json)
    pipeline, platform = _structure(shape)
    # The IR is the structure plus the values: hashing the two parts names the whole.
    digest = hashlib.sha256(f"{_structure_digest(shape)}\n{arguments_json}".encode()).hexdigest()
    return CompiledPipeline(ir=_fill(pipeline, arguments), spec_hash=f"sha256:{digest}", arguments=arguments,
                            platform_spec=platform)


def compile_trainingrun(tr: TrainingRun, *, trigger: str = "manual", registry_uri: str | None = None,
                        image: str | None = None, promote: bool | None = None,
                        s3_secret: str | None = None, run_key: str = "") -> CompiledPipeline:
    """The same TrainingRun gives the same bytes; a repeat is a dictionary lookup.

    image and s3_secret default to $MLCD_COMPONENT_IMAGE and $MLCD_S3_SECRET_NAME.
    """
    arguments = pipeline_arguments(tr, trigger=trigger, registry_uri=registry_uri, promote=promote, run_key=run_key)
    spec = tr.spec
    shape = Shape(image=image or component_image(), s3_secret=s3_secret_name() if s3_secret is None else s3_secret,
                  handoff=spec.deploy.model_deployment is not None, drift=bool(spec.retrain and spec.retrain.drift),
                  tuning=spec.tuning.parallelism if spec.tuning else 0,
                  train_timeout=spec.timeouts.train_seconds, step_timeout=spec.timeouts.step_seconds,
                  train_accelerator=spec.resources.train.accelerator() is not None,
                  steps_accelerator=spec.resources.steps.accelerator() is not None,
                  node_selector=bool(spec.node_selector), tolerations=bool(spec.tolerations))
    return _compile_cached(json.dumps(arguments, sort_keys=True), shape)


@functools.lru_cache(maxsize=4)
def _drift_check_structure(image: str, s3_secret: str) -> tuple[dict, dict]:
    from google.protobuf import json_format

    pipeline = build_drift_check(image, s3_secret)
    return json_format.MessageToDict(pipeline.pipeline_spec), json_format.MessageToDict(pipeline.platform_spec)


def compile_drift_check(current: str, registry_uri: str, champion_version: int, method: str, threshold: float,
                        key: str, *, data_format: str = "", image: str | None = None,
                        s3_secret: str = "") -> CompiledPipeline:
    """The drift-check pipeline for one (data, champion) pair; its record lands at REGISTRY/drift/KEY.json."""
    arguments = {"current": current, "data_format": data_format, "registry_uri": registry_uri,
                 "champion_version": champion_version, "method": method, "threshold": threshold, "key": key}
    pipeline, platform = _drift_check_structure(image or component_image(), s3_secret)
    digest = hashlib.sha256(json.dumps([pipeline.get("root"), platform, arguments], sort_keys=True).encode())
    return CompiledPipeline(ir=_fill(pipeline, arguments), spec_hash=f"sha256:{digest.hexdigest()}",
                            arguments=arguments, platform_spec=platform)
