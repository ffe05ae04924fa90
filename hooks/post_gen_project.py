"""Remove the files of options not chosen: each option's files are whole files, never Jinja ifs."""

from pathlib import Path

TARGET = {{ cookiecutter.deploy_target | tojson }}
TARGETS = ("local", "aws", "gcp", "azure", "kubernetes")
# Per-target files; "{t}" stands for a target name.
TARGET_FILES = ("docs/deploy/{t}.md",)

for target in TARGETS:
    if target != TARGET:
        for pattern in TARGET_FILES:
            Path(pattern.format(t=target)).unlink()
