#!/bin/sh
# Transfer evaluation (issue 14): build the three held-out tasks and run one
# `mirex dryrun` per system and task, fp32, 3 folds, same settings for all.
#
#   benchmarks/transfer.sh                       # everything, then the table
#   TRANSFER_TASKS=soundtrack benchmarks/transfer.sh
#   TRANSFER_SYSTEMS="untrained LPNKK1" benchmarks/transfer.sh
#   TRANSFER_SEED=1 benchmarks/transfer.sh       # other folds: <task>/runs-seed1/
#
# Layout (EVAL_DIR, default cache/eval):
#   backbones/samplecnn-random/    the untrained SampleCNN (mirex init-backbone, seed 0)
#   <task>/all.txt, groups.txt     the task (benchmarks/heldout_task.py, score_task.py)
#   <task>/runs/<system>/          one dry run (report/ holds PerFoldResults.csv)
#   <task>/runs-seed<N>/<system>/  the same with fold seed N (TRANSFER_SEED, default 0)
#   transfer.md, transfer.json     the table (benchmarks/transfer_table.py)
#
# A system name is a `mirex` variant, or "untrained": LPNKK1's harness with
# the untrained backbone (MIREX_BACKBONES). Every run reads the feature
# stores of the runs before it on the same task (MIREX_FEATURE_STORES), so
# LPNKK3 reuses LPNKK1's and LPNKK2's features. A run whose report exists is
# skipped (delete runs/<system> to redo it). Needs the corpus (`make corpus`
# fetches the held-out packages, the games' too) and, for the score task,
# music21 + FluidSynth (see benchmarks/score_task.py; a score that takes more
# than 45 s to render is skipped, so a loaded machine renders fewer pieces).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
EVAL=${EVAL_DIR:-$ROOT/cache/eval}
CORPUS=${CORPUS:-$ROOT/cache/corpus}
TASKS=${TRANSFER_TASKS:-soundtrack score games}
SYSTEMS=${TRANSFER_SYSTEMS:-untrained mfcc-svm LPNKK1 LPNKK2 LPNKK3 musicnn-svm musicnn-vgg-svm}
FOLDS=${TRANSFER_FOLDS:-3}
SEED=${TRANSFER_SEED:-0}
RUNS=runs
[ "$SEED" = 0 ] || RUNS=runs-seed$SEED
PY=$ROOT/.venv/bin/python
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" MIREX_PRECISION=fp32

make_task() {  # $1 = task name; writes $EVAL/$1/all.txt and groups.txt once
    out=$EVAL/$1
    [ -s "$out/all.txt" ] && return 0
    case $1 in
        soundtrack) "$PY" "$ROOT/benchmarks/heldout_task.py" --corpus "$CORPUS" --out "$out" \
                        --packages soundtracks --clips-per-track 3 --max-per-class 60 ;;
        games)      "$PY" "$ROOT/benchmarks/heldout_task.py" --corpus "$CORPUS" --out "$out" \
                        --packages games --clips-per-track 5 --max-per-class 80 ;;
        score)      "$PY" "$ROOT/benchmarks/score_task.py" --out "$out" --per-class 60 ;;
        *) echo "Error: unknown task $1" >&2; return 2 ;;
    esac > "$out.task.json"
}

stores() {  # $1 = task, $2 = system: the feature stores of the task's other runs, ':'-separated
    find "$EVAL/$1" -mindepth 5 -maxdepth 5 -type d -path "$EVAL/$1/runs*/scratch/*/features" \
        ! -path "$EVAL/$1/$RUNS/$2/*" 2>/dev/null | sort | paste -sd: -
}

run_system() {  # $1 = task, $2 = system
    run=$EVAL/$1/$RUNS/$2
    [ -s "$run/report/summaryResults.csv" ] && return 0
    variant=$2 backbones=
    if [ "$2" = untrained ]; then
        variant=LPNKK1 backbones=$EVAL/backbones/samplecnn-random
        [ -f "$backbones/manifest.json" ] ||
            "$ROOT/.venv/bin/mirex" init-backbone "$backbones" --seed 0
    fi
    echo "$(date -u +%H:%M:%S) $1 / $2"
    MIREX_BACKBONES=$backbones MIREX_FEATURE_STORES=$(stores "$1" "$2") \
        "$PY" -m mirex.cli dryrun "$EVAL/$1/all.txt" "$run" --systems "$variant" \
        --groups "$EVAL/$1/groups.txt" --folds "$FOLDS" --seed "$SEED" > "$run.log" 2>&1 ||
        echo "  failed: see $run.log"
}

mkdir -p "$EVAL"
for task in $TASKS; do
    mkdir -p "$EVAL/$task/$RUNS"
    make_task "$task"
    for system in $SYSTEMS; do
        run_system "$task" "$system"
    done
done
"$PY" "$ROOT/benchmarks/transfer_table.py" --eval "$EVAL" --runs "$RUNS" \
    --tasks "$(echo $TASKS | tr ' ' ,)" --systems "$(echo $SYSTEMS | tr ' ' ,)"
