#!/usr/bin/env bash
# make demo, last step: serve the iris model `mlcd run` just made the champion, with `mlcd serve`
# (KServe's model server) on 127.0.0.1 at a free port, send it one v1 prediction, print the answer,
# and stop the server. Run after `mlcd run manifests/samples/iris-trainingrun.yaml` ($MLCD_HOME as
# for that run).
#
#   MLCD_DEMO_READY_SECONDS=60   how long the server may take to become ready
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-.venv/bin/python}
mlcd=${MLCD:-.venv/bin/mlcd}
sample=manifests/samples/iris-trainingrun.yaml
ready_seconds=${MLCD_DEMO_READY_SECONDS:-60}
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
log=$(mktemp)

"$mlcd" serve "$sample" --port "$port" >"$log" 2>&1 &
pid=$!

stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}
trap stop EXIT

give_up=$((SECONDS + ready_seconds))
until curl -fsS "$base/v2/models/iris/ready" >/dev/null 2>&1; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "demo-serve: mlcd serve exited before it was ready:" >&2
    cat "$log" >&2
    exit 1
  fi
  if ((SECONDS >= give_up)); then
    echo "demo-serve: $base not ready within ${ready_seconds}s:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done

# One flower (sepal length, sepal width, petal length, petal width, in cm): iris setosa is class 0.
request='{"instances": [[5.1, 3.5, 1.4, 0.2]]}'
echo "POST $base/v1/models/iris:predict $request"
answer=$(curl -fsS -H 'Content-Type: application/json' -d "$request" "$base/v1/models/iris:predict")
echo "answer: $answer"
