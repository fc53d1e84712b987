#!/bin/sh
# MIREX: Train.sh [-numThreads N] [--variant V] SCRATCH TRAINLIST
set -eu
MIREX_NAME=$(basename "$0") MIREX_SELF=$0
while [ -h "$MIREX_SELF" ]; do
    _link=$(readlink "$MIREX_SELF")
    case $_link in /*) MIREX_SELF=$_link ;; *) MIREX_SELF=$(dirname "$MIREX_SELF")/$_link ;; esac
done
. "$(dirname "$MIREX_SELF")/_mirex_common.sh"
mirex_run train 2 "SCRATCH TRAINLIST" "$@"
