# Two commands on a fresh machine:  make demo  (install + run the demo)  and  make test.
# Everything lands in .venv; data and caches go to cache/ (outside git).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test demo bench corpus transfer clean help

help:
	@echo "make install  create .venv and install the package (+ test tools)"
	@echo "make test     install if needed, run the test suite"
	@echo "make demo     install if needed, run the MIREX dry run on a generated task"
	@echo "make bench    install if needed, print extraction/SVM benchmarks as JSON"
	@echo "make corpus   download + unpack the unlabelled pre-training corpus (Debian game music) into cache/corpus"
	@echo "make transfer three held-out tasks x all systems (hours of CPU) -> cache/eval/transfer.md"

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m mirex.cli demo

bench: $(STAMP)
	$(PY) benchmarks/bench_extraction.py --engine tflite --precision fp32
	$(PY) benchmarks/bench_extraction.py --engine keras --precision fp32
	$(PY) benchmarks/bench_extraction.py --engine tflite --precision dyn8
	$(PY) benchmarks/bench_extraction.py --engine tflite --precision int8
	$(PY) benchmarks/bench_extraction.py --engine tflite --precision int8 --clips 8 \
		--backbone models/samplecnn-msd
	$(PY) benchmarks/bench_precision.py
	$(PY) benchmarks/bench_extraction.py --engine keras --precision bf16 --clips 4
	$(PY) benchmarks/bench_extraction.py --engine tflite --variant LPNKK3
	$(PY) benchmarks/bench_accelerator.py --segments 256 --batches 16
	$(PY) benchmarks/bench_svm.py
	$(PY) benchmarks/bench_cluster.py --mode real --clips 16
	$(PY) benchmarks/bench_cluster.py --mode null --clips 10000
	$(PY) benchmarks/bench_evaluate_overhead.py

corpus: $(STAMP)
	$(PY) -m tools.corpus --root cache/corpus

# Needs `make corpus` and, for the score task, music21 + FluidSynth (benchmarks/score_task.py).
transfer: $(STAMP)
	sh benchmarks/transfer.sh

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
