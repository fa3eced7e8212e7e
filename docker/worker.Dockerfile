# syntax=docker/dockerfile:1
# The relabel worker: the relabel package (CPU TensorFlow) and a loop that runs
# `relabel cycle` every RELABEL_INTERVAL seconds (docker/worker-entrypoint.sh).
# Build context: the repository root (docker-compose.yml does this).
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MPLBACKEND=Agg

# An unprivileged user; /state (project state) is created owned by it so a named volume
# mounted there starts writable.
RUN groupadd --system --gid 10001 relabel \
    && useradd --system --uid 10001 --gid relabel --create-home --home-dir /home/relabel relabel \
    && mkdir -p /state /models /srv/relabel/images \
    && chown relabel:relabel /state

# Dependencies and package in one step (pyproject.toml pulls tensorflow-cpu on linux x86_64).
WORKDIR /tmp/relabel-src
COPY pyproject.toml README.md ./
COPY relabel ./relabel
RUN pip install . \
    && cd / && rm -rf /tmp/relabel-src \
    && relabel --help > /dev/null

COPY docker/worker-entrypoint.sh /usr/local/bin/relabel-worker
RUN chmod 0755 /usr/local/bin/relabel-worker

USER relabel
WORKDIR /state
VOLUME ["/state"]

ENTRYPOINT ["/usr/local/bin/relabel-worker"]
# No arguments: the cycle loop. Any other command runs as given, e.g.
#   docker compose run --rm relabel-worker relabel init /state/project --images /srv/relabel/images
CMD []
