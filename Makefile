# cookiecutter-ml-gitops: `make demo` bakes a project with the default answers and runs its whole
# loop; `make test` runs the template's tests. Both install what they need (uv) first.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
DEMO_DIR ?= .scratch
# Python does not write .pyc files here (PYTHONDONTWRITEBYTECODE): precompile at install time.
export UV_COMPILE_BYTECODE := 1

.PHONY: help demo test lint bench clean
help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

.venv/.synced: pyproject.toml uv.lock
	@command -v uv >/dev/null || python3 -m pip install --quiet uv
	uv sync --frozen
	touch $@

demo: .venv/.synced  ## bake the default project into $(DEMO_DIR)/ and run its loop
	rm -rf $(DEMO_DIR)/cancer-classifier
	.venv/bin/cookiecutter . --no-input --output-dir $(DEMO_DIR)
	cd $(DEMO_DIR)/cancer-classifier && git init -q && git add -A && \
	  git -c user.name=demo -c user.email=demo@localhost commit -qm "Bake" && \
	  $(MAKE) setup loop

test: .venv/.synced  ## the template's tests (bakes every option, runs each project's checks)
	.venv/bin/pytest tests -n 2 --dist loadfile --no-loadscope-reorder --durations=15

lint: .venv/.synced  ## ruff on the template's own code
	.venv/bin/ruff check tests local_extensions.py bench  # hooks/ hold Jinja: checked by baking

bench: .venv/.synced  ## benchmarks (bench/README.md)
	.venv/bin/python bench/run.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
