# Two commands on a fresh machine:  make demo  (install + run the demo)  and  make test.
# Everything lands in .venv; data and caches go to cache/ (outside git).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test demo bench corpus students transfer clean help

help:
	@echo "make install  create .venv and install the package (+ test tools)"
	@echo "make test     install if needed, run the test suite"
	@echo "make demo     install if needed, run the MIREX dry run on a generated task"
	@echo "make bench    install if needed, print extraction/SVM benchmarks as JSON"
	@echo "make corpus   build the unlabelled pre-training corpus (Debian game music + rendered music) in cache/corpus"
	@echo "make students distil both students (LPNKK1, LPNKK2) from their teachers into cache/students (GPU; resumable)"
	@echo "make transfer three held-out tasks x all systems (hours of CPU) -> cache/eval/transfer.md"

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[test]"
	$(PY) -m pip install --no-deps "tinysoundfont>=0.3.7"  # corpus renderer tests; see setup.cfg
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m mirex.cli demo

bench: $(STAMP)
	$(PY) benchmarks/bench_extraction.py --engine tflite --precision fp32
	$(PY) benchmarks/bench_extraction.py --engine keras --precision fp32
	$(PY) benchmarks/bench_extraction.py --engine openvino
	$(PY) benchmarks/bench_precision.py
	$(PY) benchmarks/bench_extraction.py --engine keras --precision bf16 --clips 4
	$(PY) benchmarks/bench_extraction.py --engine tflite --variant LPNKK3
	$(PY) benchmarks/bench_script.py --clips 96 --variant LPNKK1
	$(PY) benchmarks/bench_script.py --clips 96 --variant LPNKK3
	$(PY) benchmarks/bench_accelerator.py --segments 256 --batches 16
	$(PY) benchmarks/bench_svm.py
	$(PY) benchmarks/bench_cluster.py --mode real --clips 16
	$(PY) benchmarks/bench_cluster.py --mode null --clips 10000
	$(PY) benchmarks/bench_evaluate_overhead.py

# Game music from Debian packages, then rendered music (classical, choral, folk, jazz,
# popular, world; --rendered-hours, --no-render).  tinysoundfont --no-deps: see setup.cfg.
corpus: $(STAMP)
	$(PY) -m pip install -e ".[corpus]"
	$(PY) -m pip install --no-deps "tinysoundfont>=0.3.7"
	$(PY) -m tools.corpus --root cache/corpus --extra

# Both students in one run, resumable (run it again after an interruption); on a GPU
# machine: KERAS_BACKEND=jax make students. STUDENTS_ARGS adds options (tools/train_students.py -h),
# e.g. STUDENTS_ARGS="--install models --minutes 20".
STUDENTS_ARGS ?=
students: $(STAMP)
	$(PY) tools/train_students.py --list cache/corpus/train.txt --out cache/students $(STUDENTS_ARGS)

# Needs `make corpus` and, for the score task, music21 + FluidSynth (benchmarks/score_task.py).
transfer: $(STAMP)
	sh benchmarks/transfer.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
