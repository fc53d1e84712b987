# Shared by the MIREX entry points (POSIX sh): find the project, pick its
# Python, parse the optional leading "-numThreads N" and "--variant V", and run
# the mirex CLI. Sourced by each wrapper after it set MIREX_NAME (its name as
# called) and MIREX_SELF (its own path, symlinks resolved with readlink -f).
# Arguments are passed on quoted.

_mirex_die() { echo "$MIREX_NAME: $*" >&2; exit 2; }

MIREX_ROOT=$(cd "$(dirname "$MIREX_SELF")/.." && pwd -P)
if [ -x "$MIREX_ROOT/.venv/bin/python" ]; then
    MIREX_PYTHON="$MIREX_ROOT/.venv/bin/python"
else
    MIREX_PYTHON=$(command -v python3 || command -v python) || _mirex_die "no Python found"
fi

mirex_run() {  # mirex_run COMMAND N_ARGS USAGE "$@"
    _command=$1 _n_args=$2 _usage=$3
    shift 3
    _threads= _variant=
    while [ $# -gt 0 ]; do
        case $1 in
            -numThreads|--numThreads|-num-threads|--num-threads)
                [ $# -ge 2 ] || _mirex_die "$1 needs a number"
                _threads=$2; shift 2 ;;
            --variant|-variant)
                [ $# -ge 2 ] || _mirex_die "$1 needs a system name (see: mirex $_command --help)"
                _variant=$2; shift 2 ;;
            --variant=*) _variant=${1#--variant=}; shift ;;
            *) break ;;
        esac
    done
    [ $# -eq "$_n_args" ] || _mirex_die "usage: $MIREX_NAME [-numThreads N] [--variant V] $_usage (options: mirex $_command --help)"
    PYTHONPATH="$MIREX_ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$MIREX_PYTHON" -m mirex.cli \
        "$_command" ${_threads:+--num-threads "$_threads"} ${_variant:+--variant "$_variant"} "$@"
}
