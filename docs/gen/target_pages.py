"""docs/deploy/<target>.md: the page a project baked for that target carries, as the bake renders it.

The source is the generated project's `docs/deploy/<target>.md` (rendered by Jinja at bake time; the
post-gen hook keeps only the chosen target's page). Rendering it here with cookiecutter's own context
and environment, with the default answers, gives the bake's file without baking five projects
(tests/test_docs.py checks one against a real bake).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"
OUT = ROOT / "docs" / "deploy"
SOURCE = "docs/deploy/{target}.md"


@contextlib.contextmanager
def _importable(path: Path) -> Iterator[None]:
    """The template's Jinja extension (local_extensions.py) importable, as cookiecutter arranges it."""
    sys.path.insert(0, str(path))
    try:
        yield
    finally:
        sys.path.remove(str(path))


def baked_page(target: str) -> str:
    """What `cookiecutter --no-input deploy_target=<target>` writes to `docs/deploy/<target>.md`."""
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config
    from cookiecutter.utils import create_env_with_context
    from jinja2 import FileSystemLoader

    context = generate_context(ROOT / "cookiecutter.json", extra_context={"deploy_target": target})
    with _importable(ROOT):
        context["cookiecutter"] = prompt_for_config(context, no_input=True)
        env = create_env_with_context(context)
    env.loader = FileSystemLoader([str(TEMPLATE), str(ROOT / "templates")])  # as generate_files sets it
    return env.get_template(SOURCE.format(target=target)).render(**context)


def site_page(target: str, text: str) -> str:
    """The baked page with a note under its title saying where it comes from."""
    title, _, rest = text.partition("\n")
    source = SOURCE.format(target=target)
    note = (
        f'!!! note "The page of a project baked with `deploy_target={target}`"\n'
        f"    A bake keeps it as `{source}`. Here it is rendered with the default answers by\n"
        f"    `docs/gen/pages.py` from `{{{{cookiecutter.project_slug}}}}/{source}`: edit that file, then\n"
        "    regenerate.\n"
    )
    return f"{title}\n\n{note}{rest}"


def targets() -> list[str]:
    import json

    return json.loads((ROOT / "cookiecutter.json").read_text())["deploy_target"]


def pages() -> dict[Path, str]:
    return {OUT / f"{target}.md": site_page(target, baked_page(target)) for target in targets()}
