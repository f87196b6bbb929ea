"""Compatibility before traffic: can the runtime a ModelDeployment names load the version it names?

The chart's mlcd-sklearn runtime runs the operator's own image, so the operator knows the library
versions it serves with; a registered version records the ones that trained it (metadata.json
``versions``). A version the runtime cannot unpickle is refused here, with both versions named, instead
of being sent to KServe to crash-loop. Pure: versions in, a verdict out; the handler reads metadata.json.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlcd.api.v1alpha1.modeldeployment import DEFAULT_RUNTIME
from mlcd.api.v1alpha1.vocabulary import Reason
from mlcd.compatibility import sklearn_problem


@dataclass(frozen=True)
class RuntimeCheck:
    compatible: bool | None  # None: the operator cannot tell, and leaves it to the server's own check
    reason: str
    message: str


def check_runtime(runtime: str, model_uri: str, recorded: dict | None, own: dict, *,
                  problem: str | None = None) -> RuntimeCheck:
    """``recorded``: metadata.json's ``versions`` of the model (None when it could not be read, ``problem``
    says why); ``own``: the versions of the operator's image, which mlcd's runtime runs."""
    if runtime != DEFAULT_RUNTIME:
        return RuntimeCheck(None, Reason.OTHER_RUNTIME, f"runtime {runtime} is not mlcd's {DEFAULT_RUNTIME}: the "
                            "operator does not know its library versions and cannot check them")
    if recorded is None:
        return RuntimeCheck(None, Reason.METADATA_UNREADABLE, f"{model_uri}: the versions that trained it could not "
                            f"be read ({problem}); the server checks them as it loads it")
    trained, serving = recorded.get("sklearn"), own["sklearn"]
    if not trained:
        return RuntimeCheck(None, Reason.VERSIONS_NOT_RECORDED, f"{model_uri}: metadata.json records no "
                            f"scikit-learn version; runtime {runtime} serves with {serving}")
    refused = sklearn_problem(trained, serving, where=f"runtime {runtime}")
    if refused:
        return RuntimeCheck(False, Reason.RUNTIME_INCOMPATIBLE,
                            f"{model_uri} was trained with scikit-learn {trained}, runtime {runtime} serves with "
                            f"scikit-learn {serving}: {refused}")
    return RuntimeCheck(True, Reason.RUNTIME_COMPATIBLE, f"{model_uri} was trained with scikit-learn {trained}; "
                        f"runtime {runtime} serves with {serving}")
