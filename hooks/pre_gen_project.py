"""Check the answers before anything is written; a bad answer stops the bake with one clear line.

Cookiecutter deletes the half-made project folder when this hook exits non-zero.
"""

import keyword
import re
import sys

ANSWERS = {
    "project_name": {{ cookiecutter.project_name | tojson }},
    "project_slug": {{ cookiecutter.project_slug | tojson }},
    "package_name": {{ cookiecutter.package_name | tojson }},
    "python_version": {{ cookiecutter.python_version | tojson }},
    "deploy_target": {{ cookiecutter.deploy_target | tojson }},
    "retrain_schedule": {{ cookiecutter.retrain_schedule | tojson }},
    "default_branch": {{ cookiecutter.default_branch | tojson }},
}
TARGETS = ("local", "aws", "gcp", "azure", "kubernetes")
PYTHONS = ("3.11", "3.12", "3.13")
# From local_extensions.py, which runs the project's own cron checker at render time.
CRON_PROBLEM = {{ cookiecutter.retrain_schedule | cron_error | tojson }}


def problems(a: dict) -> list[str]:
    found = []
    if not a["project_name"].strip():
        found.append("project_name: must not be empty")
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", a["project_slug"]):
        found.append(f"project_slug {a['project_slug']!r}: expected lowercase letters, digits and single dashes, starting with a letter (e.g. churn-model)")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", a["package_name"]) or keyword.iskeyword(a["package_name"]):
        found.append(f"package_name {a['package_name']!r}: expected a lowercase Python identifier that is not a keyword (e.g. churn_model)")
    if a["python_version"] not in PYTHONS:
        found.append(f"python_version {a['python_version']!r}: expected one of {', '.join(PYTHONS)}")
    if a["deploy_target"] not in TARGETS:
        found.append(f"deploy_target {a['deploy_target']!r}: expected one of {', '.join(TARGETS)}")
    if CRON_PROBLEM:
        found.append(f"retrain_schedule {a['retrain_schedule']!r}: {CRON_PROBLEM}")
    if not re.fullmatch(r"[A-Za-z0-9._/-]+", a["default_branch"]) or ".." in a["default_branch"] or a["default_branch"].startswith(("-", "/")) or a["default_branch"].endswith(("/", ".lock")):
        found.append(f"default_branch {a['default_branch']!r}: expected a git branch name (e.g. main)")
    return found


if __name__ == "__main__":
    errors = problems(ANSWERS)
    for line in errors:
        print(f"ERROR: {line}", file=sys.stderr)
    sys.exit(1 if errors else 0)
