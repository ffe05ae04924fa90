"""Jinja extension of this template: checks answers with the generated project's own code."""

import importlib.util
from pathlib import Path

from jinja2.ext import Extension

# The project's cron checker (standard library only): the hook and `mlops config check` agree.
CRON_FILE = Path(__file__).parent / "{{cookiecutter.project_slug}}/src/{{cookiecutter.package_name}}/ops/cron.py"


def cron_error(expr: str) -> str:
    spec = importlib.util.spec_from_file_location("template_cron", CRON_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.cron_error(expr) or ""


class AnswerChecks(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["cron_error"] = cron_error
        # The template's folder, absolute: the post-generation hook links the bake to it (.cruft.json).
        environment.globals["template_dir"] = str(Path(__file__).resolve().parent)
