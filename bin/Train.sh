#!/bin/sh
# MIREX: Train.sh [-numThreads N] [--variant V] SCRATCH TRAINLIST
set -eu
MIREX_NAME=$(basename "$0") MIREX_SELF=$(readlink -f "$0")   # through any symlinks
. "${MIREX_SELF%/*}/_mirex_common.sh"
mirex_run train 2 "SCRATCH TRAINLIST" "$@"
