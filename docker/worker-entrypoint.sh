#!/usr/bin/env bash
# relabel worker entrypoint.
#
#   relabel-worker            run `relabel cycle PROJECT --json-logs` every RELABEL_INTERVAL s
#   relabel-worker loop       the same
#   relabel-worker health     exit 0 unless RELABEL_UNHEALTHY_AFTER cycles in a row failed
#   relabel-worker CMD ...    run CMD as given (e.g. `relabel init /state/project --images DIR`)
#
# Environment:
#   RELABEL_PROJECT          project folder (default /state/project)
#   RELABEL_INTERVAL         seconds between the end of one cycle and the start of the next
#                            (default 900; a positive number)
#   RELABEL_MIN_REVIEWS      if set, passed as `--min-reviews N`
#   RELABEL_UNHEALTHY_AFTER  failed cycles in a row after which `health` fails (default 3)
#   RELABEL_STATUS_DIR       where the loop records its status (default /tmp/relabel-worker)
#   RELABEL_BIN              the relabel command (default relabel)
#   LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY   read by relabel itself; required by the loop
#
# Exit codes of `relabel cycle`: 0 done, 3 waiting for reviews, 4 nothing to do (normal);
# 5 locked by another run (this tick is skipped); anything else is logged as an error and the
# loop goes on. SIGTERM/SIGINT stop the loop at once: a running cycle gets SIGTERM and the
# script exits when it has ended.
set -uo pipefail

PROJECT="${RELABEL_PROJECT:-/state/project}"
INTERVAL="${RELABEL_INTERVAL:-900}"
MIN_REVIEWS="${RELABEL_MIN_REVIEWS:-}"
UNHEALTHY_AFTER="${RELABEL_UNHEALTHY_AFTER:-3}"
STATUS_DIR="${RELABEL_STATUS_DIR:-/tmp/relabel-worker}"
RELABEL_BIN="${RELABEL_BIN:-relabel}"
STATUS_FILE="$STATUS_DIR/status"

json_str() {
    # Set JSON to the JSON string literal of $1 (no subshell: safe while signals arrive).
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\t'/\\t}
    JSON="\"$s\""
}

utc_now() {
    # Set NOW to the current UTC time, ISO 8601 (bash builtin, no `date` process).
    TZ=UTC printf -v NOW '%(%Y-%m-%dT%H:%M:%SZ)T' -1
}

log() {
    # log LEVEL MESSAGE [KEY VALUE]... : one JSON line on stderr (integers stay numbers).
    local level=$1 message=$2 line
    shift 2
    utc_now
    json_str "$NOW"
    line="{\"time\": $JSON"
    json_str "$level"
    line+=", \"level\": $JSON, \"logger\": \"relabel.worker\""
    json_str "$message"
    line+=", \"message\": $JSON"
    while (($# >= 2)); do
        json_str "$1"
        line+=", $JSON: "
        if [[ $2 =~ ^-?[0-9]+$ ]]; then
            line+=$2
        else
            json_str "$2"
            line+=$JSON
        fi
        shift 2
    done
    printf '%s}\n' "$line" >&2
}

is_positive_number() {
    [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]] && [[ $1 =~ [1-9] ]]
}

health() {
    if [[ ! -f $STATUS_FILE ]]; then
        echo "relabel-worker: no status yet ($STATUS_FILE): the loop has not started" >&2
        return 1
    fi
    local errors
    errors=$(sed -n 's/^consecutive_errors=//p' "$STATUS_FILE")
    if ! [[ $errors =~ ^[0-9]+$ ]]; then
        echo "relabel-worker: unreadable status file $STATUS_FILE" >&2
        return 1
    fi
    if ((errors >= UNHEALTHY_AFTER)); then
        echo "relabel-worker: $errors failed cycles in a row; last status:" >&2
        cat "$STATUS_FILE" >&2
        return 1
    fi
    return 0
}

consecutive_errors=0
rc=0
write_status() {
    # write_status LAST_EXIT_CODE OUTCOME
    local tmp="$STATUS_FILE.tmp"
    utc_now
    {
        echo "consecutive_errors=$consecutive_errors"
        echo "last_exit_code=$1"
        echo "last_outcome=$2"
        echo "last_time=$NOW"
    } >"$tmp" && mv -f "$tmp" "$STATUS_FILE"
}

stop_requested=0
got_signal=0
child=0
on_signal() {
    stop_requested=1
    got_signal=1
    if ((child > 0)); then
        kill -TERM "$child" 2>/dev/null || true
    fi
}

wait_child() {
    # Wait for $child to end, even when a trapped signal interrupts `wait`; sets $rc.
    if ((stop_requested)); then
        kill -TERM "$child" 2>/dev/null || true # the signal came before $child was known
    fi
    while :; do
        got_signal=0
        wait "$child"
        rc=$?
        ((got_signal)) || break
    done
    child=0
}

run_cycle() {
    # One tick: run a cycle and log what its exit code means.
    local -a args=(cycle "$PROJECT" --json-logs)
    if [[ -n $MIN_REVIEWS ]]; then
        args+=(--min-reviews "$MIN_REVIEWS")
    fi
    if [[ ! -f $PROJECT/relabel.toml ]]; then
        consecutive_errors=$((consecutive_errors + 1))
        log ERROR "no relabel project at $PROJECT: create it once with 'docker compose run --rm relabel-worker relabel init $PROJECT --images DIR' (or --manifest FILE)" \
            project "$PROJECT" consecutive_errors "$consecutive_errors"
        write_status 6 not_initialised
        return
    fi
    log INFO "cycle starting" project "$PROJECT"
    local started=$SECONDS
    "$RELABEL_BIN" "${args[@]}" &
    child=$!
    wait_child
    local took=$((SECONDS - started))
    if ((stop_requested)); then
        log INFO "cycle interrupted by a stop request" exit_code "$rc" seconds "$took"
        write_status "$rc" interrupted
        return
    fi
    case $rc in
    0 | 3 | 4)
        local outcome="done"
        ((rc == 3)) && outcome=waiting_for_reviews
        ((rc == 4)) && outcome=nothing_to_do
        consecutive_errors=0
        log INFO "cycle ended: $outcome" exit_code "$rc" outcome "$outcome" seconds "$took"
        write_status "$rc" "$outcome"
        ;;
    5)
        log WARNING "project locked by another relabel run: skipping this tick" \
            exit_code "$rc" outcome locked seconds "$took"
        write_status "$rc" locked
        ;;
    *)
        local outcome=error
        case $rc in
        6) outcome=invalid_input ;;
        7) outcome=label_studio_unavailable ;;
        esac
        consecutive_errors=$((consecutive_errors + 1))
        log ERROR "cycle failed: $outcome (see the relabel log lines above); retrying next tick" \
            exit_code "$rc" outcome "$outcome" seconds "$took" \
            consecutive_errors "$consecutive_errors"
        write_status "$rc" "$outcome"
        ;;
    esac
}

sleep_interval() {
    sleep "$INTERVAL" &
    child=$!
    wait_child
}

loop() {
    if ! is_positive_number "$INTERVAL"; then
        log ERROR "RELABEL_INTERVAL must be a positive number of seconds, got '$INTERVAL'"
        exit 6
    fi
    if ! [[ $UNHEALTHY_AFTER =~ ^[1-9][0-9]*$ ]]; then
        log ERROR "RELABEL_UNHEALTHY_AFTER must be a positive integer, got '$UNHEALTHY_AFTER'"
        exit 6
    fi
    if [[ -n $MIN_REVIEWS && ! $MIN_REVIEWS =~ ^[0-9]+$ ]]; then
        log ERROR "RELABEL_MIN_REVIEWS must be a whole number, got '$MIN_REVIEWS'"
        exit 6
    fi
    local var
    for var in LABEL_STUDIO_URL LABEL_STUDIO_API_KEY; do
        if [[ -z ${!var:-} ]]; then
            log ERROR "$var is not set: the worker cannot reach Label Studio"
            exit 6
        fi
    done
    mkdir -p "$STATUS_DIR" || exit 1
    trap on_signal TERM INT
    write_status none starting
    log INFO "worker started" project "$PROJECT" interval "$INTERVAL" \
        label_studio_url "$LABEL_STUDIO_URL"
    while ((!stop_requested)); do
        run_cycle
        ((stop_requested)) && break
        sleep_interval
    done
    log INFO "worker stopped"
    exit 0
}

case "${1:-loop}" in
loop)
    loop
    ;;
health)
    health
    exit $?
    ;;
*)
    exec "$@"
    ;;
esac
