#!/usr/bin/env bash
# Run Testground's own integration_tests/*.sh, unchanged, against the `testground` on PATH
# (Choreograph's) and the real `docker`.
#
#   tests/compat/testground_suite/run_suite.sh [TESTGROUND_CHECKOUT] [SCRIPT_NAME...]
#
# The checkout comes from the first argument or $TESTGROUND_SRC. Each script runs in a
# fresh temp dir holding a copy of the checkout's integration_tests/, plans/ and
# env-kind.toml (its working tree), with its own HOME and TESTGROUND_HOME, under
# SUITE_TIMEOUT seconds (default 900). Afterwards everything it left is removed: its
# daemon and processes, the containers and Docker networks of its runs, network
# namespaces named after them. Prints one
# line per script (pass/fail/skip and why) and exits 1 if any failed.
# A failing script's temp dir is kept (its path is printed); SUITE_KEEP=1 keeps all.
set -uo pipefail

src=${1:-${TESTGROUND_SRC:-}}
[ $# -gt 0 ] && shift
if [ -z "$src" ] || [ ! -d "$src/integration_tests" ] || [ ! -d "$src/plans" ]; then
    echo "usage: $0 TESTGROUND_CHECKOUT [SCRIPT...]  (or set TESTGROUND_SRC)" >&2
    echo "  the checkout must hold integration_tests/ and plans/" >&2
    exit 2
fi
src=$(cd "$src" && pwd)
timeout_s=${SUITE_TIMEOUT:-900}
command -v testground >/dev/null || { echo "testground is not on PATH" >&2; exit 2; }
command -v docker >/dev/null || { echo "docker is not on PATH" >&2; exit 2; }

# Why a script cannot run here (empty: it runs).
skip_reason() {
    case "$1" in
    *k8s*) echo "needs Kubernetes (kind, cluster:k8s)" ;;
    15_02_docker_mixed_builders_and_custom_go_deps.sh)
        echo "needs the internet: dependency sdk-go version \"master\" (a branch: resolving it needs GitHub or a full Go proxy)" ;;
    20_exec_go_mod_rewrites.sh)
        echo "needs the internet: dependency sdk-go at a commit hash (resolving it needs GitHub or a full Go proxy)" ;;
    20_docker_additional_hosts.sh) echo "needs the internet: docker run hashicorp/http-echo (Docker Hub)" ;;
    example_01_rust.sh) echo "needs the internet: docker pull rust:1.59-bullseye" ;;
    example_02_js_*) echo "needs the internet: docker pull node:16-buster" ;;
    example_04_browser_node.sh | example_04_browser_node_sync_cross_runtime.sh)
        echo "needs the internet: FROM mcr.microsoft.com/playwright (and node:16)" ;;
    esac
}

# The env toml each script's daemon starts with (header.sh takes it as $1).
env_for() {
    case "$1" in
    18_*) echo "integration_tests/18_env.toml" ;;
    15_02_docker_mixed_builders_and_custom_go_deps.sh)
        echo "needs the internet: dependency sdk-go version \"master\" (a branch: resolving it needs GitHub or a full Go proxy)" ;;
    20_exec_go_mod_rewrites.sh)
        echo "needs the internet: dependency sdk-go at a commit hash (resolving it needs GitHub or a full Go proxy)" ;;
    20_docker_additional_hosts.sh) echo "integration_tests/20_env.toml" ;;
    *) echo "env-kind.toml" ;;
    esac
}

# Plans a script uses but another script imports: Testground's CI (its Makefile) runs
# the scripts one after the other in one home, so the 1493_* compositions find the plans
# 14_* and 15_* imported. With a home per script, that import is done first ("FOLDER NAME").
seed_for() {
    case "$1" in
    1493_runs_feature_mixed_builders.sh) echo "plans/_integrations_mixed_builders integrations_mixed_builders" ;;
    1493_*) echo "plans/_integrations integrations" ;;
    esac
}

# The plans' Dockerfiles and compositions name images no registry here serves: tag local
# stand-ins under those names (a no-op when they are up to date).
if ! choreo images prepare --as golang:alpine=go --as golang:1.16-buster=go \
    --as golang:1.14-buster=go --as busybox:1.31.1-glibc=runtime >/dev/null; then
    echo "choreo images prepare failed" >&2
    exit 2
fi

# header.sh waits for the daemon with `nc -z localhost 8040`; supply one if missing.
shim_dir=$(mktemp -d)
if ! command -v nc >/dev/null; then
    cat >"$shim_dir/nc" <<'PY'
#!/usr/bin/env python3
"""`nc -z HOST PORT` only: exit 0 when a TCP connection opens."""
import socket, sys
args = [a for a in sys.argv[1:] if not a.startswith("-")]
try:
    socket.create_connection((args[0], int(args[1])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
    chmod +x "$shim_dir/nc"
fi

# env-kind.toml (and 20_env.toml) give local:docker containers nofile=1048576:1048576.
# Where dockerd's own hard limit is lower and it may not raise it (an unprivileged
# container), Docker itself refuses such containers ("error setting rlimit type 7"), so
# each script gets a copy of its env file with the limit lowered to what Docker accepts.
nofile=""
if ! docker run --rm --ulimit nofile=1048576:1048576 busybox:1.36-glibc true >/dev/null 2>&1; then
    nofile=$(docker run --rm busybox:1.36-glibc sh -c 'ulimit -Hn' 2>/dev/null)
    echo "note: Docker here cannot raise nofile to 1048576; env files get nofile=$nofile" >&2
fi
adjusted_env() {  # adjusted_env TREE ENV_FILE -> the env file to pass
    if [ -n "$nofile" ] && grep -q 'nofile=' "$1/$2"; then
        sed -E "s/nofile=[0-9]+:[0-9]+/nofile=$nofile:$nofile/" "$1/$2" >"$1/$2.host.toml"
        echo "$2.host.toml"
    else
        echo "$2"
    fi
}

go_env=()
if command -v go >/dev/null; then  # keep Go's caches across the per-script HOMEs
    go_env=(GOPATH="$(go env GOPATH)" GOMODCACHE="$(go env GOMODCACHE)" GOCACHE="$(go env GOCACHE)")
fi

# What a script leaves behind is found by the runs its home recorded: containers and
# networks labelled with one of those run ids (other users' containers are not touched).
labelled() {  # labelled KIND RUN_IDS_FILE -> ids of KIND labelled with one of the runs
    local kind=$1 list
    [ "$kind" = container ] && list=(docker ps -a) || list=(docker network ls)
    "${list[@]}" --filter label=choreograph.run --format '{{.ID}} {{.Label "choreograph.run"}}' |
        awk 'NR == FNR { runs[$1] = 1; next } ($2 in runs) { print $1 }' "$2" -
}

cleanup_after() {  # cleanup_after WORKDIR PGID
    local work=$1 pgid=$2 pid ns
    kill -TERM -- "-$pgid" 2>/dev/null
    sleep 1
    kill -KILL -- "-$pgid" 2>/dev/null
    # processes that left the group but still run from this script's folder (daemons)
    for pid in $(pgrep -f -- "$work/" 2>/dev/null); do
        [ "$pid" != "$$" ] && kill -TERM "$pid" 2>/dev/null
    done
    ls "$work/home/testground/runs" 2>/dev/null >"$work/runs.txt"
    labelled container "$work/runs.txt" | xargs -r docker rm -f >/dev/null 2>&1
    labelled network "$work/runs.txt" | xargs -r docker network rm >/dev/null 2>&1
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        grep -qF -f "$work/runs.txt" <<<"$ns" && ip netns delete "$ns" 2>/dev/null
    done
}

scripts=("$@")
if [ ${#scripts[@]} -eq 0 ]; then
    mapfile -t scripts < <(cd "$src/integration_tests" && ls -- *.sh | grep -v '^header\.sh$')
fi

results=()
failed=0
for name in "${scripts[@]}"; do
    name=$(basename "$name")
    reason=$(skip_reason "$name")
    if [ -n "$reason" ]; then
        results+=("$(printf '%-52s %-5s %s' "$name" skip "$reason")")
        continue
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/tgsuite.XXXXXX")
    mkdir -p "$work/tree" "$work/home/testground" "$work/tmp"
    cp -a "$src/integration_tests" "$src/plans" "$work/tree/"
    [ -f "$src/env-kind.toml" ] && cp -a "$src/env-kind.toml" "$work/tree/"
    env_file=$(adjusted_env "$work/tree" "$(env_for "$name")")
    note=""
    read -r seed_from seed_name <<<"$(seed_for "$name")"
    if [ -n "${seed_from:-}" ]; then
        (cd "$work/tree" && HOME="$work/home" TESTGROUND_HOME="$work/home/testground" \
            testground plan import --from "$seed_from" --name "$seed_name") >"$work/seed.log" 2>&1
        note=" (home seeded: plan import --from $seed_from --name $seed_name)"
    fi
    started=$SECONDS
    (
        cd "$work/tree" &&
            exec env HOME="$work/home" TESTGROUND_HOME="$work/home/testground" \
                TMPDIR="$work/tmp" PATH="$PATH:$shim_dir" "${go_env[@]}" \
                setsid timeout -k 10 "$timeout_s" bash "integration_tests/$name" "$env_file"
    ) >"$work/output.log" 2>&1 &
    runner=$!
    wait "$runner"
    rc=$?
    cleanup_after "$work" "$runner"
    took=$((SECONDS - started))
    if [ "$rc" -eq 0 ]; then
        results+=("$(printf '%-52s %-5s %ss%s' "$name" pass "$took" "$note")")
    else
        failed=$((failed + 1))
        why="exit $rc"
        [ "$rc" -eq 124 ] && why="timed out after ${timeout_s}s"
        last=$(grep -E 'Error on line|ERROR|error' "$work/output.log" | tail -1 | cut -c1-120)
        results+=("$(printf '%-52s %-5s %s, %ss; %s (log: %s)' "$name" FAIL "$why" "$took" "$last" "$work/output.log")")
    fi
    echo "${results[-1]}" >&2
    if [ "$rc" -ne 0 ] || [ "${SUITE_KEEP:-0}" = 1 ]; then
        echo "kept $work" >&2  # a failure's logs are always kept
    else
        rm -rf "$work"
    fi
done
rm -rf "$shim_dir"

printf '\n%-52s %-5s %s\n' script result "time / reason"
printf '%s\n' "${results[@]}"
exit $((failed > 0))
