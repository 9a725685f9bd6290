# `make demo` and `make test` do all the set-up on a fresh machine: they create .venv from a
# Python >= 3.12 found on this machine (tools/find-python.sh), install bayesgen with its dev
# and distributed (Ray) extras, and reinstall only when pyproject.toml changes.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test test-slow test-all lint format bench bench-gpu clean

$(STAMP): pyproject.toml
	@if ! { $(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' \
	        && $(PY) -m pip --version; } >/dev/null 2>&1; then \
	    python=$$(sh tools/find-python.sh) || exit 1; \
	    echo "creating $(VENV) with $$python"; \
	    rm -rf $(VENV); \
	    "$$python" -m venv $(VENV) || { rm -rf $(VENV); exit 1; }; \
	fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,distributed]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/bayesgen compare ising --plot demo-output/compare_ising.png --json demo-output/compare_ising.json

# Tests run in parallel processes (pytest-xdist), at most 4, one per core.
TEST_PROCS := -n auto --maxprocesses 4 --dist worksteal

# `make test`: every test not marked slow (under 10 minutes cold on 2 cores). The slow ones
# (more than about 11 s each, cold: compilation, mostly) are correctness checks too:
# `make test-slow` runs them, `make test-all` runs both in one pass, and CI runs `make test`
# then `make test-slow` (.ci/run).
test: $(STAMP)
	$(PY) -m pytest -q $(TEST_PROCS) -m "not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q $(TEST_PROCS) -m slow

test-all: $(STAMP)
	$(PY) -m pytest -q $(TEST_PROCS)

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,distributed,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) benchmarks/gibbs_throughput.py
	$(PY) benchmarks/exact_normalizers.py
	$(PY) benchmarks/ais_log_z.py
	$(PY) benchmarks/fit_overhead.py
	$(PY) benchmarks/posterior_overhead.py
	$(PY) benchmarks/study_cost.py
	$(PY) benchmarks/compile_times.py
	$(PY) benchmarks/cost_of_z.py
	$(PY) benchmarks/one_lattice.py

# On a machine with an NVIDIA GPU: JAX's CUDA plugin for the installed jax unless JAX already
# sees the GPU, then the GPU benchmarks (at most 8 minutes; results/<name>.gpu.json beside
# the CPU results).
bench-gpu: $(BENCH_STAMP)
	@$(PY) -c 'import jax; jax.devices("gpu")' >/dev/null 2>&1 || \
	    $(PY) -m pip install --quiet "jax[cuda12]==$$($(PY) -c 'import jax; print(jax.__version__)')"
	sh benchmarks/gpu.sh $(abspath $(PY))

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
