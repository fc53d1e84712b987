#!/usr/bin/env bash
# MIREX: Classify.sh [-numThreads N] /path/to/scratch /path/to/testListFile.txt /path/to/outputListFile.txt
# The organizers' name for Test.sh.
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/Test.sh" "$@"
