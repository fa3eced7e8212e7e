#!/usr/bin/env bash
# `ray start` for the ray-head and ray-worker services of docker-compose.yml (profile `ray`).
#
#   relabel-ray-start ARG...   exec `ray start ARG...`, with --object-store-memory added
#
# Ray keeps its object store in /dev/shm (a container's shm_size). By default it sizes the
# store at 30% of the machine's memory and, when /dev/shm is smaller, moves it to slow disk or
# refuses to start; this caps it at 90% of the free space in /dev/shm instead, unless ARG
# already gives --object-store-memory. Exits 1, saying how to build the image with Ray, when
# Ray is not installed (the image was built without RELABEL_EXTRAS=ray).
#
# With RAY_AUTH_MODE=token, the head (--head) first creates the cluster's token if there is
# none (`ray get-auth-token --generate`: ~/.ray/auth_token, a volume shared with the workers
# and relabel-worker in docker-compose.yml); the token is never printed.
#
# Environment: RELABEL_SHM_DIR (default /dev/shm), RAY_BIN (default ray), RAY_AUTH_MODE.
set -euo pipefail

RAY_BIN="${RAY_BIN:-ray}"
SHM_DIR="${RELABEL_SHM_DIR:-/dev/shm}"

if ! command -v "$RAY_BIN" >/dev/null 2>&1; then
    echo "relabel-ray-start: Ray is not installed in this image. Set RELABEL_EXTRAS=ray" \
        "(in .env) and rebuild: docker compose --profile ray build" >&2
    exit 1
fi

args=("$@")
head=0
store_given=0
for arg in "$@"; do
    case $arg in
    --head) head=1 ;;
    --object-store-memory | --object-store-memory=*) store_given=1 ;;
    esac
done

if ((head)) && [[ ${RAY_AUTH_MODE:-} == token ]]; then
    umask 077
    if ! "$RAY_BIN" get-auth-token --generate >/dev/null; then
        echo "relabel-ray-start: cannot create the Ray cluster token (~/.ray/auth_token)" >&2
        exit 1
    fi
fi

if ((store_given)); then
    exec "$RAY_BIN" start "${args[@]}"
fi

# 90% of the free space in /dev/shm, and at most Ray's default of 30% of the memory (the
# container's cgroup limit if it has one): Ray refuses a store that leaves tasks no memory.
sizes=$(
    python3 - "$SHM_DIR" <<'PY'
import os, sys

shm = os.statvfs(sys.argv[1])
free = shm.f_frsize * shm.f_bavail
memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
    try:
        with open(limit) as f:
            value = f.read().strip()
    except OSError:
        continue
    if value.isdigit():
        memory = min(memory, int(value))
print(free, min(free // 10 * 9, memory // 10 * 3))
PY
) || {
    echo "relabel-ray-start: cannot read the size of $SHM_DIR" >&2
    exit 1
}
read -r free store <<<"$sizes"
# Ray's own floor is 75 MiB; below it, shm_size is far too small for anything useful.
if ((store < 78643200)); then
    echo "relabel-ray-start: an object store of $store bytes is too small ($SHM_DIR has" \
        "$free bytes free): raise shm_size (RAY_SHM_SIZE in .env) to a few GB" >&2
    exit 1
fi
exec "$RAY_BIN" start --object-store-memory="$store" "${args[@]}"
