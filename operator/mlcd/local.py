"""Local mode: run a TrainingRun on this machine, state under $MLCD_HOME."""

from __future__ import annotations

from mlcd.api.v1alpha1 import TrainingRun
from mlcd.backends.local import Zygote, run_pipeline
from mlcd.backends.result import RunResult
from mlcd.compiler import compile_trainingrun
from mlcd.home import mlcd_home


def local_registry_uri(tr: TrainingRun) -> str:
    return tr.spec.registry.uri or (mlcd_home() / "registry" / tr.metadata.name).as_uri()


def ignored_locally(tr: TrainingRun) -> str:
    """The settings KFP's local runner does not apply (it runs every step as a process on this machine),
    said once per run so nobody takes a limit for granted."""
    spec = tr.spec
    accelerators = [a[0] for a in (spec.resources.train.accelerator(), spec.resources.steps.accelerator()) if a]
    ignored = ["resources (cpu and memory requests and limits" + "".join(f", {a}" for a in sorted(set(accelerators)))
               + ")", "timeouts (step and run)"]
    if spec.node_selector:
        ignored.append("nodeSelector")
    if spec.tolerations:
        ignored.append("tolerations")
    return "the local runner ignores " + ", ".join(ignored)


def run_trainingrun(tr: TrainingRun, *, progress_out=None, trigger: str = "manual",
                    zygote: Zygote | None = None) -> RunResult:
    # Nothing rolls a model out on a laptop: a version that passed every gate is the champion at once.
    compiled = compile_trainingrun(tr, trigger=trigger, registry_uri=local_registry_uri(tr), promote=True)
    if progress_out is not None:
        print(f"run {tr.metadata.name}: {tr.spec.model.estimator} on {tr.spec.data.source} "
              f"({compiled.spec_hash[:19]})", file=progress_out, flush=True)
        print(f"  note: {ignored_locally(tr)}", file=progress_out, flush=True)
    return run_pipeline(compiled.ir, compiled.arguments, progress_out=progress_out, zygote=zygote)
