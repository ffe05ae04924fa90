"""Copy config values into files that need literals (GitHub reads `on.schedule` before any step runs).

A line ending in `# mlops sync: <dotted.path>` gets its value replaced by that config value, as JSON
(valid YAML). Standard library only: the template's post-generation hook runs this file too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SYNCED_FILES = (".github/workflows/ci.yml", ".github/workflows/ct.yml", ".github/workflows/cd.yml")
_LINE = re.compile(
    r"^(?P<key>\s*(?:-[ \t]+)?(?:[\w-]+:[ \t]*)?)(?P<value>\S.*?)(?P<tag>[ \t]+# mlops sync: (?P<path>[\w.]+))$"
)


def _lookup(values: dict, dotted: str):
    for part in dotted.split("."):
        values = values[part]
    return values


def synced_text(text: str, values: dict) -> str:
    def replace(match: re.Match) -> str:
        value = json.dumps(_lookup(values, match["path"]))
        return f"{match['key']}{value}{match['tag']}"

    return "\n".join(_LINE.sub(replace, line) for line in text.split("\n"))


def sync(root: Path, values: dict, write: bool = True) -> list[str]:
    """Files under `root` whose literals differ from `values` (rewritten when `write`)."""
    stale = []
    for name in SYNCED_FILES:
        path = root / name
        if not path.exists():
            continue
        text = path.read_text()
        if (new := synced_text(text, values)) != text:
            stale.append(name)
            if write:
                path.write_text(new)
    return stale
