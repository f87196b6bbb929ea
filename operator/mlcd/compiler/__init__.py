"""TrainingRun -> KFP pipeline -> IR YAML: pure, deterministic and cached."""

from mlcd.compiler.compile import (
    CompiledPipeline,
    compile_drift_check,
    compile_trainingrun,
    component_image,
    pipeline_arguments,
)

__all__ = ["CompiledPipeline", "compile_drift_check", "compile_trainingrun", "component_image", "pipeline_arguments"]
