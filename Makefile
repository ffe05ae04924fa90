# cookiecutter-ml-gitops: `make demo` bakes a project with the default answers and runs its whole
# loop; `make test` runs the template's tests. Both install what they need (uv) first.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
DEMO_DIR ?= .scratch
# The project_slug cookiecutter.json's defaults give, asked of cookiecutter itself (the bake venv's),
# once, when a recipe first needs it.
SLUG_OF_DEFAULTS := from cookiecutter.generate import generate_context as g; \
  from cookiecutter.prompt import prompt_for_config as p; \
  print(p(g("cookiecutter.json"), no_input=True)["project_slug"])
SLUG = $(eval SLUG := $(shell .venv/bin/python -c '$(SLUG_OF_DEFAULTS)'))$(SLUG)
DEMO_PROJECT = $(abspath $(DEMO_DIR))/$(SLUG)

.PHONY: help demo test lint lock bench clean
help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# Baking needs only the `bake` group; --inexact leaves a dev install (a superset) as it is.
.venv/.synced-bake: pyproject.toml uv.lock
	@command -v uv >/dev/null || python3 -m pip install --quiet uv
	uv sync --frozen --inexact --only-group bake --quiet
	touch $@

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null || python3 -m pip install --quiet uv
	uv sync --frozen
	touch $@

# The demo follows none of the hints its tools print for day-to-day work: MLflow's info lines and
# download bars, DVC's `git add` reminder (autostage: it stages what `dvc repro` wrote instead).
demo: export MLFLOW_LOGGING_LEVEL := ERROR
demo: export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false
demo: export PYTHONUNBUFFERED := 1
demo: .venv/.synced-bake  ## bake the default project into $(DEMO_DIR)/ and run its loop
	@echo "==> 1/3 Bake the default answers into $(DEMO_PROJECT)"
	rm -rf $(DEMO_PROJECT)
	.venv/bin/cookiecutter . --no-input --output-dir $(DEMO_DIR)
	cd $(DEMO_PROJECT) && git init -q -b main && git add -A && \
	  git -c user.name=demo -c user.email=demo@localhost commit -qm "Bake"
	@echo "==> 2/3 Install it: make setup (uv.lock into .venv; a minute or two on a cold cache)"
	$(MAKE) -C $(DEMO_PROJECT) --no-print-directory setup
	cd $(DEMO_PROJECT) && .venv/bin/dvc config --local core.autostage true
	@echo "==> 3/3 Run its loop: make loop"
	$(MAKE) -C $(DEMO_PROJECT) --no-print-directory loop | tee $(DEMO_PROJECT).loop.log
	@.venv/bin/python scripts/demo_summary.py $(DEMO_PROJECT) $(DEMO_PROJECT).loop.log

# The template's venv is not precompiled (43k files, ~55 s, most never imported): Python writes the
# .pyc of what the tests import, even on a machine that sets PYTHONDONTWRITEBYTECODE (empty = unset).
test: export PYTHONDONTWRITEBYTECODE :=
test: .venv/.synced  ## the template's tests (bakes every option, runs each project's checks)
	.venv/bin/pytest tests -n 2 --dist loadfile --no-loadscope-reorder --durations=15

lint: .venv/.synced  ## ruff on the template's own code
	.venv/bin/ruff check tests local_extensions.py bench scripts  # hooks/ hold Jinja: checked by baking

# The baked projects' lock: bake the defaults, `uv lock` there (starting from the current lock, so
# only what pyproject.toml changed moves; LOCK_FLAGS=--upgrade moves everything), and copy it back
# with the project's name templated again. Run it after changing the baked pyproject.toml.
LOCK := {{cookiecutter.project_slug}}/uv.lock
lock: .venv/.synced  ## regenerate $(LOCK) from the baked pyproject.toml (PyPI)
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  .venv/bin/cookiecutter . --no-input --output-dir "$$tmp" && \
	  (cd "$$tmp/$(SLUG)" && "$(CURDIR)/.venv/bin/uv" lock $(LOCK_FLAGS)) && \
	  sed 's/^name = "$(SLUG)"$$/name = "{{ cookiecutter.project_slug }}"/' "$$tmp/$(SLUG)/uv.lock" >'$(LOCK)'
	@grep -c '^name = "{{ cookiecutter.project_slug }}"$$' '$(LOCK)' | grep -qx 1 || \
	  { echo "error: $(LOCK): expected one templated name line"; exit 1; }

bench: .venv/.synced  ## benchmarks (bench/README.md)
	.venv/bin/python bench/run.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
