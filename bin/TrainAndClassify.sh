#!/bin/sh
# MIREX: TrainAndClassify.sh [-numThreads N] [--variant V] SCRATCH TRAINLIST TESTLIST OUTLIST
set -eu
MIREX_NAME=$(basename "$0") MIREX_SELF=$(readlink -f "$0")   # through any symlinks
. "${MIREX_SELF%/*}/_mirex_common.sh"
mirex_run train-and-classify 4 "SCRATCH TRAINLIST TESTLIST OUTLIST" "$@"
