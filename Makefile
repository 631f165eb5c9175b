# Longtail — the two commands: `make demo` and `make test`. Both set themselves up (idempotent).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup sysdeps lint typecheck proto bench baseline clean

setup: $(STAMP)

sysdeps:
	@bash .ci/sysdeps.sh $(PY)

$(STAMP): pyproject.toml .ci/sysdeps.sh
	@$(MAKE) --no-print-directory sysdeps
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m backend.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q

proto: $(STAMP)
	$(BIN)/python proto/generate.py

# Every benchmark, each writing its JSON to benchmarks/results/ (about 25 minutes here; the
# selection benchmark simulates its drives once and caches them under build/).
BENCHMARKS := bench_demo bench_simulator bench_codec bench_perception bench_scoring bench_agent_path bench_selection bench_selection_probe bench_events bench_tracking bench_ingest
bench: $(STAMP)
	@for b in $(BENCHMARKS); do echo "== $$b"; $(BIN)/python -m benchmarks.$$b || exit 1; done

baseline: $(STAMP)
	$(BIN)/longtail sim training-drives --plan baseline --out build/baseline/drives
	$(BIN)/longtail model build-baseline --drives build/baseline/drives --cache build/baseline/cache \
		--out agent/models/baseline --report benchmarks/results/model_eval.json
	$(BIN)/python -m benchmarks.provenance stamp benchmarks/results/model_eval.json \
		--entries simulators.training_drives backend.training.baseline --param plan=baseline

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
