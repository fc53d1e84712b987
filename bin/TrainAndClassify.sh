#!/usr/bin/env bash
# MIREX: TrainAndClassify.sh [-numThreads N] scratch trainList testList outputList
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_mirex_common.sh"
mirex_run train-and-classify 4 "SCRATCH TRAINLIST TESTLIST OUTLIST"
