"""The mlcd command: validate, compile, run, serve, crds, drift and operator."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_REJECTED, EXIT_DRIFT = 0, 1, 2, 3, 4
PHASE_EXIT = {"Succeeded": EXIT_OK, "Rejected": EXIT_REJECTED, "Failed": EXIT_FAILED, "Invalid": EXIT_INVALID}

DESCRIPTION = """\
mlcd: continuous delivery for scikit-learn models on Kubernetes.

A TrainingRun (data, estimator, gates, registry) is compiled into a Kubeflow Pipelines v2
pipeline: ingest -> check-data -> train -> evaluate -> gate -> register. The operator runs it
in a cluster; `mlcd run` runs the very same pipeline here with KFP's local runner.
"""

EPILOG = """\
examples:
  mlcd validate manifests/samples/*.yaml      check resources, every problem at once
  mlcd run manifests/samples/iris-trainingrun.yaml
                                              train, gate and register locally
  mlcd compile iris.yaml -o iris.ir.yaml      the KFP IR the operator would submit
  mlcd serve manifests/samples/iris-trainingrun.yaml
                                              serve its champion on 127.0.0.1:8080 (v1 and v2)
  mlcd serve --model_dir=/mnt/models --model_name=iris --http_port=8080
                                              a downloaded version, as KServe runs the mlcd-sklearn runtime
  mlcd drift trainingrun.yaml                 has spec.retrain.drift.current drifted? exit 4 if so
  mlcd crds | kubectl apply -f -              install the CustomResourceDefinitions
  mlcd operator --backend kfp --kfp-host http://ml-pipeline.kubeflow:8888
                                              run the operator against the current kubeconfig

Local state lives in $MLCD_HOME (default ~/.mlcd): registry/NAME/vN, pipeline-root, runs.
"""


def _load_one(path: str, kind: str):
    from mlcd.documents import load_file

    loaded = [d for d in load_file(path)]
    problems = [p for d in loaded for p in d.problems()]
    if problems:
        return None, problems
    matching = [d.validated.resource for d in loaded if type(d.validated.resource).__name__ == kind]
    if not matching:
        return None, [f"{path}: kind: expected a {kind}"]
    return matching[0], []


def cmd_validate(args) -> int:
    from mlcd.documents import load_file

    bad = 0
    for path in args.files:
        problems = [p for doc in load_file(path) for p in doc.problems()]
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            bad += 1
        elif not args.quiet:
            print(f"{path}: valid")
    return EXIT_INVALID if bad else EXIT_OK


def cmd_compile(args) -> int:
    from mlcd.compiler import compile_trainingrun

    tr, problems = _load_one(args.file, "TrainingRun")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return EXIT_INVALID
    compiled = compile_trainingrun(tr, image=args.image)
    if args.output in (None, "-"):
        sys.stdout.write(compiled.yaml)
    else:
        Path(args.output).write_text(compiled.yaml)
        print(f"{args.output}: {compiled.spec_hash}", file=sys.stderr)
    return EXIT_OK


class _Terminated(BaseException):
    """SIGTERM, raised where the run is so that it unwinds like Ctrl-C."""


def cmd_run(args) -> int:
    import signal

    from mlcd.backends.local import Zygote
    from mlcd.home import mlcd_home

    def terminate(*_) -> None:
        # The steps go first: the runner waits for the step it started before it lets an exception by.
        zygote.kill()
        raise _Terminated

    # The steps' fork server imports scikit-learn on the other core while this one validates. Leaving
    # the block ends its process group, and with it every step still running.
    try:
        with Zygote(mlcd_home()) as zygote:
            signal.signal(signal.SIGTERM, terminate)
            return _run(args, zygote)
    except KeyboardInterrupt:
        print("mlcd run: interrupted; the run's steps were stopped", file=sys.stderr)
        return 128 + signal.SIGINT
    except _Terminated:
        print("mlcd run: terminated; the run's steps were stopped", file=sys.stderr)
        return 128 + signal.SIGTERM


def _run(args, zygote) -> int:
    from mlcd.local import run_trainingrun

    tr, problems = _load_one(args.file, "TrainingRun")
    if problems:
        if args.json:
            print(json.dumps({"phase": "Invalid", "metrics": {}, "gates": [], "model": None,
                              "message": "; ".join(problems)}))
        print("\n".join(problems), file=sys.stderr)
        return EXIT_INVALID
    out = sys.stderr if args.json else sys.stdout
    result = run_trainingrun(tr, progress_out=None if args.quiet else out, zygote=zygote)
    if args.json:
        print(json.dumps(result.to_json(), sort_keys=True))
    else:
        print_result(result, out)
    return PHASE_EXIT.get(result.phase, EXIT_FAILED)


def print_result(result, out) -> None:
    print(f"phase: {result.phase}  ({result.seconds:.1f}s)", file=out)
    for name, value in result.metrics.items():
        print(f"  {name:<16} {value:.4f}", file=out)
    for gate in result.gates:
        print(f"  gate {'pass' if gate['passed'] else 'FAIL'}: {gate['message']}", file=out)
    if result.model:
        print(f"model: {result.model['uri']} (version {result.model['version']})", file=out)
    elif result.message:
        print(f"message: {result.message}", file=out)


def cmd_crds(args) -> int:
    from mlcd.api.crd import all_crds, dump

    sys.stdout.write("---\n".join(dump(crd) for crd in all_crds()))
    return EXIT_OK


def cmd_operator(args) -> int:
    from mlcd.handlers.app import run
    from mlcd.handlers.config import OperatorConfig

    config = OperatorConfig.from_env(backend=args.backend, kfp_host=args.kfp_host, namespaces=tuple(args.namespace),
                                     poll_seconds=args.poll_seconds, metrics_port=args.metrics_port,
                                     liveness_port=args.liveness_port)
    if config.backend == "kfp" and not config.kfp_host:
        print("mlcd operator: --backend kfp needs --kfp-host or MLCD_KFP_HOST", file=sys.stderr)
        return EXIT_INVALID
    if config.local_namespace:
        if config.backend != "local" or set(config.namespaces) - {config.local_namespace}:
            print("mlcd operator: MLCD_LOCAL_NAMESPACE (file:// allowed there) needs --backend local and no "
                  "other watched namespace", file=sys.stderr)
            return EXIT_INVALID
        config = dataclasses.replace(config, namespaces=(config.local_namespace,))
    run(config, log_format=args.log_format, verbose=args.verbose)
    return EXIT_OK


def cmd_serve(args) -> int:
    import importlib.util

    from mlcd.serving import ServeError

    if sum(x is not None for x in (args.file, args.model_uri, args.model_dir)) != 1:
        print("mlcd serve: give one of FILE (a ModelDeployment or TrainingRun), --model-uri URI or --model_dir DIR",
              file=sys.stderr)
        return EXIT_INVALID
    if importlib.util.find_spec("kserve") is None:
        print("mlcd serve: needs KServe's model server: pip install 'mlcd[serve]'", file=sys.stderr)
        return EXIT_FAILED
    try:
        loaded = _serve_source(args)
    except ServeError as exc:
        print(f"mlcd serve: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(loaded, int):
        return loaded
    where, name, predictor = loaded
    from mlcd.serving.server import make_model, run_server

    base = f"http://{args.host}:{args.port}"
    print(f"serving {where} as {name!r}: {base}/v1/models/{name}:predict, {base}/v2/models/{name}/infer",
          file=sys.stderr, flush=True)
    run_server(make_model(name, predictor), host=args.host, port=args.port, max_request_bytes=args.max_request_bytes)
    return EXIT_OK


def _serve_source(args):
    """(what is served, its name, the loaded predictor), or an exit code when the file is invalid."""
    from mlcd.serving import (
        load_predictor,
        load_predictor_from_dir,
        registry_name,
        source_from_resource,
        source_from_uri,
    )

    if args.model_dir:
        predictor, metadata = load_predictor_from_dir(args.model_dir, args.model_sha256)
        return args.model_dir, args.name or registry_name(metadata, args.model_dir), predictor
    if args.file:
        resource, problems = _load_one(args.file, "ModelDeployment")
        if resource is None:
            resource, problems = _load_one(args.file, "TrainingRun")
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return EXIT_INVALID
        source = source_from_resource(resource)
    else:
        source = source_from_uri(args.model_uri)
    predictor, _ = load_predictor(source.uri, args.model_sha256 or source.sha256)
    return source.uri, args.name or source.name, predictor


def cmd_drift(args) -> int:
    from mlcd.drift import drift_report
    from mlcd.local import local_registry_uri
    from mlcd.storage import StorageError, read_dataset

    tr, problems = _load_one(args.file, "TrainingRun")
    drift = tr.spec.retrain.drift if tr is not None and tr.spec.retrain else None
    if tr is not None and drift is None:
        problems = [f"{args.file}: spec.retrain.drift: not set; there is no current data to compare"]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return EXIT_INVALID
    try:
        champion, reference = _champion_reference(local_registry_uri(tr), args.file)
        current, _ = read_dataset(drift.current)
        report = drift_report(reference, current, drift.method, drift.threshold)
    except LookupError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except StorageError as exc:  # names the URI itself
        print(f"{args.file}: spec.retrain.drift.current: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        print(f"{args.file}: spec.retrain.drift.current: {drift.current}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.html:
        Path(args.html).write_text(report.to_html())
    if args.json:
        print(json.dumps({**report.to_dict(), "current": drift.current, "champion": champion}, sort_keys=True))
    else:
        print(f"{drift.current} against champion {champion['uri']}\n")
        print(report.to_markdown(), end="")
    return EXIT_DRIFT if report.drifted else EXIT_OK


def _champion_reference(registry_uri: str, file: str) -> tuple[dict, dict]:
    """The champion ({uri, version}) and the reference statistics stored with it; LookupError says why not."""
    from mlcd.storage import StorageError, open_registry

    try:
        registry = open_registry(registry_uri)
        champion = registry.champion()
        if champion is None:
            raise LookupError(f"spec.registry.uri: {registry_uri} has no champion yet; train one first "
                              f"(mlcd run {file})")
        reference = registry.metadata(champion["version"]).get("reference")
    except StorageError as exc:
        raise LookupError(f"spec.registry.uri: {exc}") from None
    uri = registry.version_uri(champion["version"])
    if not reference:
        raise LookupError(f"spec.registry.uri: the champion {uri} has no reference statistics (it was registered "
                          "before mlcd recorded them); retrain to record them")
    return {"uri": uri, "version": champion["version"]}, reference


def _request_limit(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1024:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of bytes of at least 1024")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlcd", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check TrainingRun / ModelDeployment files; exit 2 when invalid",
                       description="Check resource files. Every problem is printed as FILE: spec.path: message, "
                                   "all of them, not the first only. Exit 0 valid, 2 invalid.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="print problems only")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("compile", help="write the KFP IR YAML the operator would submit",
                       description="Compile a TrainingRun into Kubeflow Pipelines v2 IR YAML. The same input "
                                   "gives the same bytes. Exit 0, or 2 when the file is invalid.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", help="where to write the IR (default: standard output)")
    p.add_argument("--image", help="component image (default: $MLCD_COMPONENT_IMAGE or mlcd's own, versioned)")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("run", help="compile and run a TrainingRun here with KFP's local runner",
                       description="Compile a TrainingRun exactly as the operator does and run it with KFP's "
                                   "local runner. The registry is file://$MLCD_HOME/registry/NAME unless "
                                   "spec.registry.uri says otherwise. Exit 0 Succeeded, 3 Rejected (a gate "
                                   "failed), 1 Failed, 2 Invalid.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object (phase, metrics, gates, model, message); progress goes to stderr")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("crds", help="print the CustomResourceDefinitions generated from the spec models",
                       description="Print the CRDs (apiextensions.k8s.io/v1) generated from mlcd's models, "
                                   "ready for `kubectl apply -f -`.")
    p.set_defaults(func=cmd_crds)

    p = sub.add_parser("operator", help="run the operator against the current kubeconfig",
                       description="Run the mlcd operator (kopf) against the cluster of the current kubeconfig "
                                   "(KUBECONFIG is honoured; in a pod, its service account). It turns each "
                                   "TrainingRun generation into exactly one pipeline run and reports it in "
                                   "status, conditions and Events. Settings come from flags or MLCD_* variables; "
                                   "secrets (MLCD_KFP_TOKEN, AWS_*) only from the environment.")
    p.add_argument("--namespace", action="append", default=[], metavar="NS",
                   help="watch this namespace (repeatable; env MLCD_NAMESPACES, comma-separated); default: all")
    p.add_argument("--backend", choices=["kfp", "local"], default=None,
                   help="kfp: a Kubeflow Pipelines API server; local: KFP's local runner in a worker process "
                        "(env MLCD_BACKEND, default local)")
    p.add_argument("--kfp-host", default=None, help="KFP API URL, e.g. http://ml-pipeline.kubeflow:8888 "
                                                    "(env MLCD_KFP_HOST); token from MLCD_KFP_TOKEN, else the "
                                                    "projected token file KFP's SDK reads "
                                                    "($KF_PIPELINES_SA_TOKEN_PATH or "
                                                    "/var/run/secrets/kubeflow/pipelines/token)")
    p.add_argument("--poll-seconds", type=float, default=None, help="how often runs in flight are polled (10)")
    p.add_argument("--liveness-port", type=int, default=0, help="serve GET /healthz on this port")
    p.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus /metrics on this port")
    p.add_argument("--log-format", choices=["plain", "full", "json"], default="full",
                   help="json for structured logs")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(func=cmd_operator)

    p = sub.add_parser("serve", help="serve a registered model with KServe's model server (v1 and v2)",
                       description="Serve one registered model with KServe's Python model server: protocols v1 "
                                   "(/v1/models/NAME:predict) and v2 (/v2/models/NAME/infer), health, readiness "
                                   "and /metrics. FILE is a ModelDeployment (serves spec.model.uri as its name) "
                                   "or a TrainingRun (serves its registry's champion). The model file's sha256 "
                                   "is checked before it is unpickled; requests are checked against the input "
                                   "signature recorded at training.")
    p.add_argument("file", nargs="?", metavar="FILE")
    p.add_argument("--model-uri", metavar="URI",
                   help="a model version (REGISTRY/vN) or a registry (its champion, a version of that registry "
                        "only), file:// or s3://")
    p.add_argument("--model_dir", "--model-dir", dest="model_dir", metavar="DIR",
                   help="a model version's folder on this machine (model.joblib, metadata.json), as KServe's "
                        "storage initializer leaves it in /mnt/models")
    p.add_argument("--name", "--model_name", dest="name",
                   help="model name in the URL paths (default: the ModelDeployment's name, or the registry's, the "
                        "folder above vN)")
    p.add_argument("--model-sha256", default=os.environ.get("MLCD_MODEL_SHA256") or None, metavar="HEX",
                   help="refuse a model.joblib whose sha256 differs (env MLCD_MODEL_SHA256; default: a "
                        "ModelDeployment's spec.model.sha256, else the one metadata.json records)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; a pod's runtime gives 0.0.0.0)")
    p.add_argument("--port", "--http_port", dest="port", type=int, default=8080, help="HTTP port (default 8080)")
    p.add_argument("--max-request-bytes", type=_request_limit, metavar="N",
                   default=os.environ.get("MLCD_MAX_REQUEST_BYTES") or str(4 << 20),
                   help="refuse larger request bodies with HTTP 413 before reading them (env MLCD_MAX_REQUEST_BYTES, "
                        "default 4 MiB)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("drift", help="the drift report of spec.retrain.drift.current against the champion",
                       description="Compare the data at spec.retrain.drift.current with the statistics of the data "
                                   "the registry's champion was trained on: PSI per feature, and the two-sample "
                                   "Kolmogorov-Smirnov test for numeric ones; drift when the score of "
                                   "spec.retrain.drift.method exceeds its threshold. The registry is "
                                   "spec.registry.uri, or file://$MLCD_HOME/registry/NAME. Exit 0 no drift, 4 drift, "
                                   "1 no champion or unreadable data, 2 invalid file.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--html", metavar="OUT", help="also write the report as an HTML page to OUT")
    p.set_defaults(func=cmd_drift)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return args.func(args)


SHORT_COMMANDS = {"validate", "compile", "run", "crds", "drift"}


def entry() -> None:
    """The `mlcd` program. A short command leaves at once when done: by then every file is written and
    the zygote stopped, and tearing down scikit-learn, pandas and kfp would add half a second."""
    argv = sys.argv[1:]
    code = main(argv)
    command = next((a for a in argv if not a.startswith("-")), "")
    if command in SHORT_COMMANDS:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)
