# Shared by the MIREX entry points: find the project, pick its Python, parse
# the optional leading "-numThreads N", and run the mirex CLI. Sourced, not run.
# Every argument is passed on quoted; no logic lives here beyond the calling format.

_mirex_die() { echo "$(basename "$0"): $*" >&2; exit 2; }

MIREX_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -x "$MIREX_ROOT/.venv/bin/python" ]; then
    MIREX_PYTHON="$MIREX_ROOT/.venv/bin/python"
else
    MIREX_PYTHON="$(command -v python3 || command -v python)" || _mirex_die "no Python found"
fi

MIREX_OPTS=()
while [ $# -gt 0 ]; do
    case "$1" in
        -numThreads|--numThreads|-num-threads|--num-threads)
            [ $# -ge 2 ] || _mirex_die "$1 needs a number"
            MIREX_OPTS+=(--num-threads "$2"); shift 2 ;;
        --variant|-variant)
            [ $# -ge 2 ] || _mirex_die "$1 needs LPNKK1, LPNKK2 or LPNKK3"
            MIREX_OPTS+=(--variant "$2"); shift 2 ;;
        --variant=*) MIREX_OPTS+=(--variant "${1#--variant=}"); shift ;;
        *) break ;;
    esac
done
MIREX_ARGS=("$@")

mirex_run() {  # mirex_run COMMAND N_ARGS USAGE
    [ "${#MIREX_ARGS[@]}" -eq "$2" ] || _mirex_die "usage: $(basename "$0") [-numThreads N] [--variant V] $3"
    PYTHONPATH="$MIREX_ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$MIREX_PYTHON" -m mirex.cli "$1" "${MIREX_OPTS[@]}" "${MIREX_ARGS[@]}"
}
