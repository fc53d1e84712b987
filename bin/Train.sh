#!/usr/bin/env bash
# MIREX: Train.sh [-numThreads N] /path/to/scratch /path/to/trainListFile.txt
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_mirex_common.sh"
mirex_run train 2 "SCRATCH TRAINLIST"
