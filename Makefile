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

.PHONY: install demo test test-fast test-matrix lint docs docs-serve bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	# torch and torchvision are resolved together from the registry (never the
	# machine's preinstalled CPU-only torch wheel, which torchvision cannot load).
	$(PY) -m pip install --quiet "torch>=2.14" "torchvision>=0.29"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	$(PY) -c "import torch, torchvision; torchvision.ops.nms" 
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

# The README's command and CI's: lint + types, then the whole suite (slow tests included).
test: lint
	$(PY) -c "import torch, torchvision; print('torch', torch.__version__, '| torchvision', torchvision.__version__)"
	$(PY) -m pytest -n 2 --dist loadgroup -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Before every release: the suite on the declared torch floor, on what the registry resolves
# here, on the newest torch it serves, and flopcount alone on torch 2.13 without torchvision,
# each in its own venv under .matrix/ (see .ci/test_matrix.py and CONTRIBUTING.md).
test-matrix:
	python3 .ci/test_matrix.py

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
	rm -rf $(VENV) .matrix site build *.egg-info .pytest_cache .hypothesis
