#!/bin/sh
# MIREX: extractFeatures.sh [-numThreads N] [--variant V] SCRATCH LIST
set -eu
MIREX_NAME=$(basename "$0") MIREX_SELF=$(readlink -f "$0")   # through any symlinks
. "${MIREX_SELF%/*}/_mirex_common.sh"
mirex_run extract 2 "SCRATCH LIST" "$@"
