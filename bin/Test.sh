#!/bin/sh
# MIREX: Test.sh [-numThreads N] [--variant V] SCRATCH TESTLIST OUTLIST
# Classify.sh is the same command under the organizers' name.
set -eu
MIREX_NAME=$(basename "$0") MIREX_SELF=$(readlink -f "$0")   # through any symlinks
. "${MIREX_SELF%/*}/_mirex_common.sh"
mirex_run classify 3 "SCRATCH TESTLIST OUTLIST" "$@"
