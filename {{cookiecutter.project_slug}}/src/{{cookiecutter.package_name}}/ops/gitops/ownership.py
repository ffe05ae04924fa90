"""Which paths are yours: template updates never touch them (`.cruft.json` "skip"); and the format
of `.cruft.json`, the project's link to its template.

The README's "What is where" table says the same in words. Standard library only: the template's
post-generation hook loads this file to write `.cruft.json`, as `mlops template update` rewrites it.
"""

import json

CRUFT_FILE = ".cruft.json"

USER_OWNED = (
    "mlops.yaml",
    "src/{{ cookiecutter.package_name }}/model",
    "data",
    "docs/deploy",
)


def cruft_json(state: dict) -> str:
    """`.cruft.json`'s text in cruft's own format, so its diffs of the file stay small."""
    return json.dumps(state, ensure_ascii=False, indent=2, separators=(",", ": ")) + "\n"
