#!/bin/sh
# MIREX: Classify.sh [-numThreads N] [--variant V] SCRATCH TESTLIST OUTLIST
# The organizers' name for Test.sh.
set -eu
MIREX_NAME=$(basename "$0") MIREX_SELF=$(readlink -f "$0")   # through any symlinks
. "${MIREX_SELF%/*}/_mirex_common.sh"
mirex_run classify 3 "SCRATCH TESTLIST OUTLIST" "$@"
