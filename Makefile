# Longtail — the two commands: `make demo` and `make test`. Both set themselves up (idempotent).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo serve test setup sysdeps lint typecheck proto api-client bench baseline clean

# The labelling tool (annotator/): npm packages from the lock file, then a build into
# annotator/dist that the backend serves at /app. Both steps are skipped when their inputs are
# unchanged (the stamps are newer than every input).
APP := annotator
NODE_STAMP := $(APP)/node_modules/.installed
APP_BUILD := $(APP)/dist/index.html
APP_INPUTS := $(APP)/index.html $(APP)/dashboard.html $(APP)/vite.config.ts $(APP)/tsconfig.json $(shell find $(APP)/src -type f 2>/dev/null)

setup: $(STAMP) $(APP_BUILD)

sysdeps:
	@bash .ci/sysdeps.sh $(PY)

$(STAMP): pyproject.toml .ci/sysdeps.sh
	@$(MAKE) --no-print-directory sysdeps
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

$(NODE_STAMP): $(APP)/package.json $(APP)/package-lock.json .ci/sysdeps.sh
	@$(MAKE) --no-print-directory sysdeps
	cd $(APP) && npm ci --no-audit --no-fund
	@touch $(NODE_STAMP)

$(APP_BUILD): $(NODE_STAMP) $(APP_INPUTS)
	cd $(APP) && npm run build

demo: $(STAMP) $(APP_BUILD)
	$(BIN)/python -m backend.demo

# Serve the finished demo's backend again (its database, blobs and ports), for the printed URLs.
DEMO_CONFIG := out/demo/backend.toml
serve: $(STAMP) $(APP_BUILD)
	@test -f $(DEMO_CONFIG) || { echo "no $(DEMO_CONFIG): run make demo first" >&2; exit 2; }
	$(BIN)/longtail backend serve --config $(DEMO_CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) $(APP_BUILD) lint typecheck
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

proto: $(STAMP)
	$(BIN)/python proto/generate.py

# The app's API client: the OpenAPI schema, then TypeScript types from it (both committed;
# tests/annotator/test_api_client_fresh.py fails when they are stale).
api-client: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m backend.api.openapi_export $(APP)/src/api/openapi.json
	cd $(APP) && npm run gen:api

# Every benchmark, each writing its JSON to benchmarks/results/ (about 25 minutes here; the
# selection benchmark simulates its drives once and caches them under build/).
BENCHMARKS := bench_demo bench_simulator bench_codec bench_perception bench_scoring bench_agent_path bench_selection bench_selection_probe bench_events bench_tracking bench_ingest bench_task_api bench_loop
bench: $(STAMP)
	@for b in $(BENCHMARKS); do echo "== $$b"; $(BIN)/python -m benchmarks.$$b || exit 1; done

# The shipped model: domain-randomised drives over every sensor preset (PLAN=baseline: clean
# hdl64 drives only, the model shipped before it).
PLAN ?= randomised
baseline: $(STAMP)
	$(BIN)/longtail sim training-drives --plan $(PLAN) --out build/$(PLAN)/drives
	$(BIN)/longtail model build-baseline --drives build/$(PLAN)/drives --cache build/$(PLAN)/cache \
		--out agent/models/baseline --report benchmarks/results/model_eval.json
	$(BIN)/python -m benchmarks.provenance stamp benchmarks/results/model_eval.json \
		--entries simulators.training_drives backend.training.baseline --param plan=$(PLAN)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache $(APP)/node_modules $(APP)/dist
