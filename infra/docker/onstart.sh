#!/usr/bin/env bash
# Start one zeb worker from the environment its fleet gave the container (infra/fleet/onstart.py).
#
# `exec` replaces this shell with the worker: the worker is the container's main process, so its
# output is the container's log (what Vast's `logs` call returns, where the fleet reads the
# worker's heartbeat lines), and a stop signal reaches the worker itself (it spools, then exits).
#
#   ZEB_EXP, ZEB_ROLE (selfplay | evalaux), ZEB_WORKER_LABEL    required
#   ZEB_HUB, ZEB_HF_WEIGHTS_REPO, ZEB_HF_EXAMPLES_REPO, HF_TOKEN  read by zeb itself
#   ZEB_WORKER_ARGS   the fleet's worker settings as `zeb worker` options, shell-quoted
#   ZEB_SPOOL_DIR                                               default /workspace/spool
set -euo pipefail

: "${ZEB_EXP:?ZEB_EXP is not set}"
: "${ZEB_ROLE:?ZEB_ROLE is not set}"
: "${ZEB_WORKER_LABEL:?ZEB_WORKER_LABEL is not set}"

args=(--exp "$ZEB_EXP" --worker-id "$ZEB_WORKER_LABEL" --spool-dir "${ZEB_SPOOL_DIR:-/workspace/spool}")

case "$ZEB_ROLE" in
    selfplay|evalaux) ;;
    *)
        echo "onstart: ZEB_ROLE must be selfplay or evalaux, not '$ZEB_ROLE'" >&2
        exit 2
        ;;
esac
# The fleet rendered these with Python's shlex.join (infra/fleet/onstart.py): eval splits them
# back into words exactly, quotes included.
eval "settings=(${ZEB_WORKER_ARGS:-})"
args+=("${settings[@]}")

echo "onstart: starting zeb worker $ZEB_ROLE as $ZEB_WORKER_LABEL for $ZEB_EXP"
exec zeb worker "$ZEB_ROLE" "${args[@]}"
