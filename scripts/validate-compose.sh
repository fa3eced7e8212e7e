#!/usr/bin/env bash
# Validate docker-compose.yml offline: no Docker engine needed.
#
#   scripts/validate-compose.sh [--without VAR]... [--env VAR=VALUE]... [--profile NAME]...
#                               [--json] [COMPOSE_FILE]
#
# Uses docker-compose 1.29.2 (the last pip-installable Compose) in a throwaway venv created
# once and cached in $RELABEL_COMPOSE_VENV (default: .venv-compose in the repository root).
# Runs `docker-compose -f FILE config -q` in a clean environment where every variable the file
# requires (`${VAR:?message}`) is set to a dummy value; any real .env file is ignored.
#
#   --without VAR   leave VAR unset (to check that a missing required variable is refused)
#   --env VAR=VALUE set VAR (an optional variable, e.g. RELABEL_EXTRAS=ray)
#   --profile NAME  enable the compose profile NAME (e.g. ray: the Ray head and workers)
#                   (docker-compose 1.29's `config` lists every profile's services anyway)
#   --json          print the resolved configuration as JSON instead of only validating
#
# Also checks docker/worker-entrypoint.sh and docker/ray-start.sh with `bash -n`.
# Exit status: 0 valid, 1 invalid, 2 usage error or the venv could not be created.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${RELABEL_COMPOSE_VENV:-$ROOT/.venv-compose}"
COMPOSE_VERSION="1.29.2"
MARKER="$VENV/.relabel-compose-$COMPOSE_VERSION"

file="$ROOT/docker-compose.yml"
json=0
declare -A without=()
extra_env=()
profiles=()
while (($#)); do
    case $1 in
    --without)
        [[ $# -ge 2 ]] || { echo "validate-compose: --without needs a variable name" >&2; exit 2; }
        without[$2]=1
        shift 2
        ;;
    --env)
        [[ $# -ge 2 && $2 =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] ||
            { echo "validate-compose: --env needs VAR=VALUE" >&2; exit 2; }
        extra_env+=("$2")
        shift 2
        ;;
    --profile)
        [[ $# -ge 2 && -n $2 ]] || { echo "validate-compose: --profile needs a name" >&2; exit 2; }
        profiles+=(--profile "$2")
        shift 2
        ;;
    --json)
        json=1
        shift
        ;;
    -h | --help)
        sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "validate-compose: unknown option $1" >&2
        exit 2
        ;;
    *)
        file=$1
        shift
        ;;
    esac
done
if [[ ! -f $file ]]; then
    echo "validate-compose: no such file: $file" >&2
    exit 2
fi

create_venv() {
    local python="${PYTHON:-}"
    if [[ -z $python ]]; then
        for candidate in python3.11 python3; do
            if command -v "$candidate" >/dev/null 2>&1; then
                python=$candidate
                break
            fi
        done
    fi
    [[ -n $python ]] || { echo "validate-compose: no python3 found" >&2; return 1; }
    echo "validate-compose: creating $VENV (docker-compose $COMPOSE_VERSION, once)" >&2
    rm -rf "$VENV"
    "$python" -m venv "$VENV"
    local pip=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
    # docker-compose 1.29.2 pins PyYAML<6, whose sdist does not build with Cython 3 or in an
    # isolated build environment: build it first with the old toolchain.
    "${pip[@]}" "cython<3" wheel "setuptools<70"
    "${pip[@]}" --no-build-isolation "pyyaml==5.4.1"
    "${pip[@]}" "docker-compose==$COMPOSE_VERSION"
    "$VENV/bin/docker-compose" version >/dev/null
    touch "$MARKER"
}

if [[ ! -f $MARKER ]]; then
    mkdir -p "$(dirname "$VENV")"
    # One creator at a time (parallel test runs share the cache).
    lock="${TMPDIR:-/tmp}/relabel-compose-venv-$(printf '%s' "$VENV" | cksum | cut -d' ' -f1).lock"
    exec 9>"$lock"
    if command -v flock >/dev/null 2>&1; then
        flock 9
    fi
    if [[ ! -f $MARKER ]] && ! create_venv; then
        echo "validate-compose: could not create the docker-compose venv in $VENV" >&2
        exit 2
    fi
    exec 9>&-
fi

for script in docker/worker-entrypoint.sh docker/ray-start.sh; do
    if ! bash -n "$ROOT/$script"; then
        echo "validate-compose: $script has a syntax error" >&2
        exit 1
    fi
done

# Dummy values for every required variable of the file, in an otherwise clean environment.
env_args=("PATH=$PATH" "HOME=${HOME:-/tmp}" "LANG=C.UTF-8")
while read -r var; do
    [[ -n $var ]] || continue
    [[ -z ${without[$var]:-} ]] || continue
    if [[ $var == *_DIR ]]; then
        env_args+=("$var=/nonexistent/validate-compose/$var")
    elif [[ $var == *EMAIL* ]]; then
        env_args+=("$var=admin@example.invalid")
    else
        env_args+=("$var=dummy-validate-compose-not-a-secret")
    fi
done < <(grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*:\?' "$file" | sed -E 's/^\$\{//; s/:\?$//' | sort -u)
env_args+=("${extra_env[@]}")

empty_env_file="$(mktemp)"
trap 'rm -f "$empty_env_file"' EXIT
compose=("$VENV/bin/docker-compose" --env-file "$empty_env_file" -f "$file" "${profiles[@]}")

if ((json)); then
    env -i "${env_args[@]}" "${compose[@]}" config |
        "$VENV/bin/python" -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'
    exit "${PIPESTATUS[0]}"
fi
if env -i "${env_args[@]}" "${compose[@]}" config -q; then
    echo "validate-compose: $file is valid (docker-compose $COMPOSE_VERSION)" >&2
    exit 0
fi
echo "validate-compose: $file is INVALID" >&2
exit 1
