# MLOS in a container: REST on 8080, gRPC on 8081, the registry in the embedded SQLite file.
#
#   docker build -t mlos:0.1.0 .
#   docker run --rm -p 8080:8080 -p 8081:8081 --shm-size 1g mlos:0.1.0 serve --demo
#
# Build with more plugins: --build-arg EXTRAS=onnx,torch,tensorflow (a larger image).
# Settings come from MLOS_* variables (docs/configuration.md): MLOS_DATABASE_URL for a shared
# PostgreSQL registry, MLOS_MODELS for models served from the start. docs/deployment.md.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG EXTRAS=onnx
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mlos mlos
COPY axon axon
COPY generated generated
COPY plugins plugins
COPY conformance conformance
RUN python -m venv /opt/mlos \
    && /opt/mlos/bin/pip install --no-cache-dir --upgrade pip \
    && /opt/mlos/bin/pip install --no-cache-dir ".[${EXTRAS}]"

FROM python:${PYTHON_VERSION}-slim-bookworm
# An unprivileged account whose home holds the server's state (registry.db, sockets, models).
RUN groupadd --system --gid 10001 mlos \
    && useradd --system --uid 10001 --gid mlos --home-dir /var/lib/mlos --create-home \
       --shell /usr/sbin/nologin mlos
COPY --from=build /opt/mlos /opt/mlos
# MLOS binds loopback unless told otherwise; inside a container it must listen on every
# interface of the container's own network namespace for the port mappings to reach it.
ENV PATH=/opt/mlos/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MLOS_HOME=/var/lib/mlos \
    MLOS_HOST=0.0.0.0 \
    MLOS_HTTP_PORT=8080 \
    MLOS_GRPC_PORT=8081
USER 10001:10001
WORKDIR /var/lib/mlos
EXPOSE 8080 8081
# SIGTERM drains: the server stops accepting, lets requests in flight finish, stops plugins.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MLOS_HTTP_PORT', '8080') + '/v2/health/live', timeout=2)"]
ENTRYPOINT ["mlos"]
CMD ["serve"]
