# syntax=docker/dockerfile:1
# Build and runtime stages use the same Debian release and the same Python, so the
# virtual environment built in the first stage runs unchanged in the second.
# `python3 -m tools.image` builds the same image without a container engine and reads this file:
# it accepts only these instructions, and this RUN exactly (tools/image.py, BUILD_STEPS).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY function ./function
RUN python -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --upgrade pip build \
 && /venv/bin/python -m build --wheel --outdir /dist \
 && python -m venv /fn \
 && /fn/bin/pip install --no-cache-dir --no-compile /dist/*.whl \
 && /fn/bin/python -m compileall -q /fn/lib

FROM ${PYTHON_IMAGE}
COPY --from=build /fn /fn
# Crossplane mounts its mTLS certificates here and sets TLS_SERVER_CERTS_DIR.
USER 65532:65532
EXPOSE 9443 8080
ENTRYPOINT ["/fn/bin/function"]
