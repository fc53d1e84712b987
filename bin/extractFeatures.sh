#!/usr/bin/env bash
# MIREX: extractFeatures.sh [-numThreads N] /path/to/scratch /path/to/featureExtractionListFile.txt
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_mirex_common.sh"
mirex_run extract 2 "SCRATCH LIST"
