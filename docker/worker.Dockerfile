# syntax=docker/dockerfile:1
# The relabel worker: the relabel package (CPU TensorFlow) and a loop that runs
# `relabel cycle` every RELABEL_INTERVAL seconds (docker/worker-entrypoint.sh). Built with
# RELABEL_EXTRAS=ray, the same image also runs the Ray head and workers (docker/ray-start.sh).
# Build context: the repository root (docker-compose.yml does this).
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MPLBACKEND=Agg \
    RAY_USAGE_STATS_ENABLED=0

# An unprivileged user; /state (project state) and ~/.ray (the Ray cluster's token, used by
# the Ray services of docker-compose.yml) are created owned by it so that named volumes
# mounted there start writable.
RUN groupadd --system --gid 10001 relabel \
    && useradd --system --uid 10001 --gid relabel --create-home --home-dir /home/relabel relabel \
    && mkdir -p /state /models /srv/relabel/images \
    && chown relabel:relabel /state \
    && install -d -m 0700 -o relabel -g relabel /home/relabel/.ray

# Extras of the relabel package, comma-separated: empty (the default) installs relabel alone;
# "ray" adds Ray for training.executor = "ray" and the ray-head/ray-worker services of
# docker-compose.yml (set RELABEL_EXTRAS=ray in .env). Ray is held at RAY_VERSION, the
# version tested, so that every node and the driver run the same Ray (Ray requires it).
ARG RELABEL_EXTRAS=""
ARG RAY_VERSION=2.60.0

# Dependencies and package in one step (pyproject.toml pulls tensorflow-cpu on linux x86_64).
WORKDIR /tmp/relabel-src
COPY pyproject.toml README.md ./
COPY relabel ./relabel
RUN echo "ray==${RAY_VERSION}" > /tmp/constraints.txt \
    && pip install -c /tmp/constraints.txt ".${RELABEL_EXTRAS:+[${RELABEL_EXTRAS}]}" \
    && cd / && rm -rf /tmp/relabel-src /tmp/constraints.txt \
    && relabel --help > /dev/null \
    && case ",${RELABEL_EXTRAS}," in *,ray,*) ray --version ;; esac

COPY docker/worker-entrypoint.sh /usr/local/bin/relabel-worker
COPY docker/ray-start.sh /usr/local/bin/relabel-ray-start
RUN chmod 0755 /usr/local/bin/relabel-worker /usr/local/bin/relabel-ray-start

USER relabel
WORKDIR /state
VOLUME ["/state"]

ENTRYPOINT ["/usr/local/bin/relabel-worker"]
# No arguments: the cycle loop. Any other command runs as given, e.g.
#   docker compose run --rm relabel-worker relabel init /state/project --images /srv/relabel/images
CMD []
