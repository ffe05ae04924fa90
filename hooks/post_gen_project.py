"""Remove the files of options not chosen (whole files, never Jinja ifs), then write the answers that
workflows need as literals (cron, default branch) with the project's own `mlops sync` code."""

import importlib.util
from pathlib import Path

TARGET = {{ cookiecutter.deploy_target | tojson }}
TARGETS = ("local", "aws", "gcp", "azure", "kubernetes")
# Per-target files; "{t}" stands for a target name.
TARGET_FILES = ("docs/deploy/{t}.md",)

LITERALS = {
    "deploy": {"target": TARGET},
    "monitoring": {"schedule": {{ cookiecutter.retrain_schedule | tojson }}},
    "project": {"default_branch": {{ cookiecutter.default_branch | tojson }}},
}
SYNC_FILE = Path("src/{{ cookiecutter.package_name }}/ops/sync.py")


def remove_other_targets() -> None:
    for target in TARGETS:
        if target != TARGET:
            for pattern in TARGET_FILES:
                Path(pattern.format(t=target)).unlink()


def write_literals() -> None:
    spec = importlib.util.spec_from_file_location("project_sync", SYNC_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.sync(Path("."), LITERALS, partial=True)


if __name__ == "__main__":
    remove_other_targets()
    write_literals()
