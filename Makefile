# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and install the project once; the stamp file
# makes a second run skip installs that are already done.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS ?= dev
# SKINBENCH_DATA is deliberately not set here: `make demo` uses real HAM10000 data only when
# the user sets it (SKINBENCH_DATA=../shared/data/ham10000 make demo), synthetic data otherwise.
# Tests and docs/scripts fall back to ../shared/data/ham10000 themselves; .ci/run sets it.

.PHONY: install demo test test-fast docs docs-serve bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	# torch and torchvision are resolved together from the registry (never the
	# machine's preinstalled CPU-only torch wheel, which torchvision cannot load).
	$(PY) -m pip install --quiet "torch>=2.3" "torchvision>=0.18"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	$(PY) -c "import torch, torchvision; torchvision.ops.nms" 
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" -x

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

docs-serve: $(STAMP)
	$(VENV)/bin/mkdocs serve

# One command, about 10 minutes on 2 CPU cores: peer counters vs flopcount (each tool in a
# fresh process), flopcount's speed targets, data pipeline and training throughput. Writes
# docs/benchmarks.md (marked sections) and benchmarks/results/*.json.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) benchmarks/compare_counters.py
	$(PY) benchmarks/profile_speed.py
	$(PY) benchmarks/pipeline_speed.py

clean:
	rm -rf $(VENV) site build *.egg-info .pytest_cache .hypothesis
