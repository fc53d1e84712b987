#!/usr/bin/env bash
# MIREX: Test.sh [-numThreads N] /path/to/scratch /path/to/testListFile.txt /path/to/outputListFile.txt
# Classify.sh is the same command under the organizers' name.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/_mirex_common.sh"
mirex_run classify 3 "SCRATCH TESTLIST OUTLIST"
