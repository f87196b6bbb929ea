#!/usr/bin/env bash
# make e2e: mlcd on a real Kubernetes (kind). Creates (or reuses) the kind cluster
# $MLCD_E2E_CLUSTER, builds the image and loads it into the cluster, then runs tests/e2e, which
# install KServe's CRDs and the chart with the local backend, apply the samples, and wait for the
# TrainingRun to succeed and the ModelDeployment to get its InferenceService.
#
# Where Docker or kind is missing it says so and exits 0 without running anything: the e2e test
# is opt-in, and a machine without a container engine is not a failure of mlcd.
#
#   MLCD_E2E_CLUSTER=mlcd-e2e   kind cluster name (context kind-$MLCD_E2E_CLUSTER)
#   MLCD_E2E_KEEP=1             keep a cluster this script created (default: delete it afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=${MLCD_E2E_CLUSTER:-mlcd-e2e}
context="kind-$cluster"
python=${PYTHON:-.venv/bin/python}

skip() {
  echo "e2e: SKIPPED, nothing was run: $*" >&2
  exit 0
}

command -v docker >/dev/null 2>&1 || skip "docker is not installed"
docker info >/dev/null 2>&1 || skip "no Docker engine is reachable (docker info failed)"
command -v kind >/dev/null 2>&1 || skip "kind is not installed (https://kind.sigs.k8s.io)"
command -v kubectl >/dev/null 2>&1 || skip "kubectl is not installed"
if [[ ! -x $python ]]; then
  echo "e2e: $python not found; run \`make install\` first" >&2
  exit 1
fi

created=0
if ! kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  kind create cluster --name "$cluster" --wait 120s
  created=1
fi
cleanup() {
  if [[ $created == 1 && ${MLCD_E2E_KEEP:-0} != 1 ]]; then
    kind delete cluster --name "$cluster"
  fi
}
trap cleanup EXIT

# Never touch a cluster that is not this kind cluster: every kubectl call names the context, and
# the context must point at a local API server whose node is the kind node of that name.
server=$(kubectl config view -o jsonpath="{.clusters[?(@.name==\"$context\")].cluster.server}")
if [[ ! $server =~ ^https://(127\.0\.0\.1|localhost|\[::1\]): ]]; then
  echo "e2e: context $context points at '$server', not at a local kind API server; refusing" >&2
  exit 1
fi
if ! kubectl --context "$context" get node "$cluster-control-plane" >/dev/null; then
  echo "e2e: context $context has no node $cluster-control-plane; it is not kind cluster $cluster; refusing" >&2
  exit 1
fi

image=$(hack/images.sh | tail -n 1)
kind load docker-image "$image" --name "$cluster"

MLCD_E2E_CLUSTER=$cluster MLCD_E2E_IMAGE=$image \
  "$python" -m pytest tests/e2e --e2e -p no:cacheprovider -v
