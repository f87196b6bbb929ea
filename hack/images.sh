#!/usr/bin/env bash
# Build mlcd's one image (operator and pipeline steps), tagged with the package version so that
# it is the image the compiler names by default: ghcr.io/mlcd-io/mlcd-components:<version>.
#
#   hack/images.sh              build
#   PUSH=1 hack/images.sh       build and push
#   IMAGE_REPO=registry.example/mlcd-components IMAGE_BASE=python:3.11.11-slim-bookworm@sha256:... hack/images.sh
#
# Prints the image reference on its last line, for callers such as hack/e2e.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE_REPO=${IMAGE_REPO:-ghcr.io/mlcd-io/mlcd-components}
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' operator/mlcd/__init__.py)
if [[ -z $version ]]; then
  echo "images: cannot read __version__ from operator/mlcd/__init__.py" >&2
  exit 1
fi
image="$IMAGE_REPO:$version"

if ! command -v docker >/dev/null 2>&1; then
  echo "images: docker is not installed; cannot build $image" >&2
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  echo "images: no Docker engine is reachable (docker info failed); cannot build $image" >&2
  exit 1
fi

build_args=()
if [[ -n ${IMAGE_BASE:-} ]]; then
  build_args+=(--build-arg "PYTHON_IMAGE=$IMAGE_BASE")
fi
docker build "${build_args[@]}" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.title=mlcd" \
  --tag "$image" . >&2

if [[ ${PUSH:-0} == 1 ]]; then
  docker push "$image" >&2
fi
echo "$image"
