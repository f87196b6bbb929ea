"""``mlcd serve``: a registered scikit-learn model behind KServe's model server (needs the `serve` extra)."""

from mlcd.serving.loading import (
           ModelSource,
           ServeError,
           load_predictor,
           load_predictor_from_dir,
           registry_name,
           sklearn_problem,
           source_from_resource,
           source_from_uri,
)
from mlcd.serving.signature import InputError, Signature

__all__ = ["InputError", "ModelSource", "ServeError", "Signature", "load_predictor", "load_predictor_from_dir",
           "registry_name", "sklearn_problem", "source_from_resource", "source_from_uri"]
