"""The steps as KFP lightweight components.

KFP embeds each function's source in the pipeline, so a body only imports the step's
module from the component image (where mlcd is installed) and calls it; the logic lives
in the step modules. `install_kfp_package=False`: the image already has kfp, and the local
runner would otherwise pip-install kfp into the user's environment at every task.
"""

from types import SimpleNamespace
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Markdown, Metrics, Model, Output


def ingest(source: str, data_format: str, dataset: Output[Dataset]) -> str:
    from mlcd_components import ingest as impl
    from mlcd_components.progress import run_step

    return run_step("ingest", impl.run, source, data_format, dataset.path)


def check_data(dataset: Input[Dataset], target: str, features: list, checks: dict, test_fraction: float,
               seed: int, kind: str, train_set: Output[Dataset], test_set: Output[Dataset],
               report: Output[Markdown], reference: Output[Artifact], signature: Output[Artifact]):
    from mlcd_components import check_data as impl
    from mlcd_components.progress import run_step

    # The signature is a file: a value travels in the next step's command line, which the kernel limits
    # (128 KiB an argument), and thousands of columns would not fit.
    run_step("check-data", impl.run, dataset.path, target, features, checks, test_fraction, seed,
             kind == "classifier", train_set.path, test_set.path, report.path, reference.path, signature.path)


def train(train_set: Input[Dataset], target: str, estimator: str, params_json: str, preprocessing: dict,
          seed: int, model: Output[Model]):
    import json

    from mlcd_components import train as impl
    from mlcd_components.progress import step

    with step("train"):
        params = json.loads(params_json)
        info = impl.run(train_set.path, target, estimator, params, preprocessing, seed, model.path)
        model.metadata.update(info)


def tune(train_set: Input[Dataset], target: str, estimator: str, params_json: str, preprocessing: dict, seed: int,
         kind: str, metric: str, folds: int, jobs: int, chunk: str) -> str:
    import json

    from mlcd_components import tune as impl
    from mlcd_components.progress import step

    work = json.loads(chunk)
    with step(f"tune-{work['chunk']}"):
        rows = impl.score(train_set.path, target, estimator, json.loads(params_json), preprocessing, seed, kind,
                          metric, folds, jobs, work["trials"])
    return json.dumps(rows, sort_keys=True)


def select(chunks: list, metric: str, params_json: str, markdown: Output[Markdown],
           page: Output[HTML]) -> NamedTuple("Selected", params_json=str, tuning_json=str):
    import json

    from mlcd_components import tune as impl
    from mlcd_components.progress import step

    with step("select"):
        summary, params = impl.collect(chunks, metric, json.loads(params_json))
        text, html = impl.table(summary)
        with open(markdown.path, "w") as fh:
            fh.write(text)
        with open(page.path, "w") as fh:
            fh.write(html)
    return NamedTuple("Selected", params_json=str, tuning_json=str)(params, json.dumps(summary, sort_keys=True))


def evaluate(model: Input[Model], test_set: Input[Dataset], target: str, kind: str, metrics: Output[Metrics],
             classification: Output[ClassificationMetrics]) -> str:
    import json

    from mlcd_components import evaluate as impl
    from mlcd_components.progress import step

    with step("evaluate"):
        scores, pictures = impl.run(model.path, test_set.path, target, kind)
        impl.log_artifacts(metrics, classification, scores, pictures)
    return json.dumps(scores, sort_keys=True)


def gate(metrics_json: str, gates: list, registry_uri: str, summary: Output[Markdown]) -> NamedTuple(
        "GateOutputs", passed=bool, results=str):
    import json

    from mlcd_components import gate as impl
    from mlcd_components.progress import step

    with step("gate"):
        metrics = json.loads(metrics_json)
        champion, name = impl.champion_metrics(registry_uri) if registry_uri else (None, "")
        results = impl.judge(metrics, gates, champion, name)
        with open(summary.path, "w") as fh:
            fh.write(impl.summary(metrics, results))
    passed = all(r["passed"] for r in results)
    return NamedTuple("GateOutputs", passed=bool, results=str)(passed, json.dumps(results))


def register(model: Input[Model], reference: Input[Artifact], registry_uri: str, metrics_json: str,
             gate_results: str, data_json: str, signature: Input[Artifact], estimator: str, params_json: str,
             preprocessing: dict, run_namespace: str, run_name: str, run_generation: int, run_trigger: str,
             run_id: str, promote: bool, run_key: str,
             tuning_json: str = "") -> NamedTuple("Registered", model_uri=str, version=int, model_sha256=str):
    import json

    from mlcd_components import register as impl
    from mlcd_components.progress import step

    with step("register"):
        with open(reference.path) as fh:
            statistics = json.load(fh)
        with open(signature.path) as fh:
            inputs = json.load(fh)
        meta = impl.metadata(
            metrics=json.loads(metrics_json), gates=json.loads(gate_results), params=json.loads(params_json),
            estimator=estimator, preprocessing=preprocessing, data=json.loads(data_json),
            signature=inputs, reference=statistics,
            run={"namespace": run_namespace, "name": run_name, "generation": run_generation,
                 "trigger": run_trigger, "id": run_id},
            tuning=json.loads(tuning_json) if tuning_json else None,
        )
        uri, version, digest = impl.run(model.path, registry_uri, meta, promote, run_key)
    return NamedTuple("Registered", model_uri=str, version=int, model_sha256=str)(uri, version, digest)


def reject(gate_results: str, metrics_json: str, registry_uri: str, run_key: str,
           tuning_json: str = "") -> NamedTuple("Registered", model_uri=str, version=int, model_sha256=str):
    import json

    from mlcd_components import register as impl
    from mlcd_components.progress import step

    with step("rejected"):
        impl.record_rejection(registry_uri, run_key, json.loads(metrics_json), json.loads(gate_results),
                              json.loads(tuning_json) if tuning_json else None)
    return NamedTuple("Registered", model_uri=str, version=int, model_sha256=str)("", 0, "")


def handoff(model_deployment: str, namespace: str, model_uri: str, model_sha256: str, run_name: str,
            promote: bool) -> str:
    from mlcd_components import handoff as impl

    return impl.reported(model_deployment, namespace, model_uri, model_sha256, run_name, promote)


def drift(dataset: Input[Dataset], registry_uri: str, method: str, threshold: float, markdown: Output[Markdown],
          page: Output[HTML]) -> str:
    from mlcd_components import drift_check as impl
    from mlcd_components.progress import step

    with step("drift"):
        line, text, html = impl.report(dataset.path, registry_uri, method, threshold)
        with open(markdown.path, "w") as fh:
            fh.write(text)
        with open(page.path, "w") as fh:
            fh.write(html)
    return line


def check_drift(dataset: Input[Dataset], registry_uri: str, champion_version: int, method: str, threshold: float,
                key: str) -> str:
    from mlcd_components import drift_check as impl
    from mlcd_components.progress import step

    with step("check-drift"):
        return impl.record(dataset.path, registry_uri, champion_version, method, threshold, key)


STEPS = (ingest, check_data, tune, select, train, evaluate, gate, register, reject, handoff, drift, check_drift)


def build(image: str) -> SimpleNamespace:
    """The components, each running in `image`."""
    return SimpleNamespace(**{
        f.__name__: dsl.component(f, base_image=image, install_kfp_package=False) for f in STEPS
    })
