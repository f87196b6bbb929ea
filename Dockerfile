# syntax=docker/dockerfile:1
#
# One image for the operator and for every pipeline step, because they must run the same code:
# the local backend runs the steps inside the operator pod (KFP's subprocess runner, forked from
# the operator's own Python), and the kfp backend runs them as pods of this image. A model is
# pickled by one and loaded by the other, so mlcd, kfp, pandas and scikit-learn must match exactly.
# The compiler's default component image is ghcr.io/mlcd-io/mlcd-components:<package version>,
# hence the name; `hack/images.sh` tags it so.
#
# The base is pinned to an exact patch release and Debian suite; pin a digest as well when
# publishing (IMAGE_BASE=python:3.11.11-slim-bookworm@sha256:... hack/images.sh).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/mlcd
WORKDIR /src
# Dependencies first, from pyproject alone, so that a code change does not reinstall them. The `serve`
# extra (KServe's model server) makes this image the chart's mlcd-sklearn serving runtime as well.
COPY pyproject.toml README.md ./
RUN mkdir -p operator/mlcd components/mlcd_components \
 && touch operator/mlcd/__init__.py components/mlcd_components/__init__.py \
 && /opt/mlcd/bin/pip install '.[serve]' \
 && /opt/mlcd/bin/pip uninstall --yes mlcd
COPY operator ./operator
COPY components ./components
RUN /opt/mlcd/bin/pip install --no-deps . \
 && /opt/mlcd/bin/python -m compileall -q /opt/mlcd

FROM ${PYTHON_IMAGE}
# A fixed non-root user: the chart's podSecurityContext and runAsNonRoot checks rely on the number.
RUN groupadd --gid 10001 mlcd \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/mlcd --create-home --shell /usr/sbin/nologin mlcd
COPY --from=build /opt/mlcd /opt/mlcd
# KFP's lightweight components call `python3` from PATH: the venv's comes first. HOME and
# MLCD_HOME point at the one directory the pod mounts writable (the root filesystem is read-only).
ENV PATH=/opt/mlcd/bin:${PATH} \
    HOME=/var/lib/mlcd \
    MLCD_HOME=/var/lib/mlcd \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
WORKDIR /var/lib/mlcd
# No ENTRYPOINT: the Deployment runs `mlcd operator`, KFP sets each step's own command, and the
# mlcd-sklearn ClusterServingRuntime runs `mlcd serve`.
CMD ["mlcd", "--help"]
