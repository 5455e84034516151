# syntax=docker/dockerfile:1
# The video-analysis worker. Build from the repository root:
#   docker build -t cricksy-worker:0.1.0 .
# The contract with the task definition (user, entrypoint/command, model path, scratch
# path) is checked against every rendered environment by tests/image/test_dockerfile.py.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml setup.cfg README.md requirements-nodeps.txt ./
COPY scripts/install-image.sh scripts/
COPY generator generator
COPY worker worker
RUN scripts/install-image.sh /opt/cricksy/venv /opt/cricksy/models \
 && echo "4eaa5eb7a98365221087693fcc286334cf0858e2eb6e15b506aa4a7ecdcec4ad  /opt/cricksy/models/pose_landmarker_full.task" \
    | sha256sum --check --strict

FROM ${PYTHON_IMAGE}
# MediaPipe's native library links libEGL and libGLESv2 even on the CPU path.
RUN apt-get update \
 && apt-get install --yes --no-install-recommends libegl1 libgles2 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 cricksy \
 && useradd --system --uid 10001 --gid cricksy --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cricksy \
 && install --directory --owner 10001 --group 10001 /scratch
COPY --from=build /opt/cricksy /opt/cricksy
ENV PATH=/opt/cricksy/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    POSE_MODEL_PATH=/opt/cricksy/models/pose_landmarker_full.task \
    WORKER_TMP_DIR=/scratch \
    TMPDIR=/scratch \
    MPLCONFIGDIR=/scratch/matplotlib
WORKDIR /opt/cricksy
USER 10001:10001
ENTRYPOINT ["cricksy-worker"]
CMD ["run"]
