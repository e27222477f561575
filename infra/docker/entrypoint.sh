#!/usr/bin/env bash
# The worker image's ENTRYPOINT: start one zeb worker with the identity its fleet put in the
# environment and the worker options the fleet passed as arguments (infra/fleet/vast_launch.py).
#
# Vast rents in launch mode "args", which keeps the image's ENTRYPOINT and passes the create
# request's `args` to it. `exec` replaces this shell with the worker: the worker is the
# container's main process, so its output is the container's log (what Vast's `logs` call
# returns, where the fleet reads the worker's heartbeat lines), and a stop signal reaches the
# worker itself (it spools, then exits).
#
#   ZEB_EXP, ZEB_ROLE (selfplay | evalaux), ZEB_WORKER_LABEL    required
#   ZEB_HUB, ZEB_HF_WEIGHTS_REPO, ZEB_HF_EXAMPLES_REPO, HF_TOKEN  read by zeb itself
#   ZEB_SPOOL_DIR                                               default /workspace/spool
#   "$@"                                                        `zeb worker` options
set -euo pipefail

: "${ZEB_EXP:?ZEB_EXP is not set}"
: "${ZEB_ROLE:?ZEB_ROLE is not set}"
: "${ZEB_WORKER_LABEL:?ZEB_WORKER_LABEL is not set}"

case "$ZEB_ROLE" in
    selfplay|evalaux) ;;
    *)
        echo "entrypoint: ZEB_ROLE must be selfplay or evalaux, not '$ZEB_ROLE'" >&2
        exit 2
        ;;
esac

echo "entrypoint: starting zeb worker $ZEB_ROLE as $ZEB_WORKER_LABEL for $ZEB_EXP"
exec zeb worker "$ZEB_ROLE" --exp "$ZEB_EXP" --worker-id "$ZEB_WORKER_LABEL" \
    --spool-dir "${ZEB_SPOOL_DIR:-/workspace/spool}" "$@"
