"""Copy config values into files that need literals (GitHub reads `on.schedule` before any step runs).

A line ending in `# mlops sync: <dotted.path>` gets its value replaced by that config value, as JSON
(valid YAML); a note may follow the path after `; ` (why a workflow permission is needed). A
comment line `# mlops sync: <dotted.path>` alone is followed by a list: the `- ` items right after
it, at its indentation, are replaced by the items of that value (dvc.yaml's params and code deps,
from ops/pipeline/stages.py). Standard library only: the template's post-generation hook runs this
file too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SYNCED_FILES = (
    ".github/workflows/ci.yml",
    ".github/workflows/ct.yml",
    ".github/workflows/cd.yml",
    ".github/workflows/batch.yml",
    "dvc.yaml",  # params and code deps of each stage (ops/pipeline/stages.py)
)
_LINE = re.compile(
    r"^(?P<key>\s*(?:-[ \t]+)?(?:[\w-]+:[ \t]*)?)(?P<value>\S.*?)"
    r"(?P<tag>[ \t]+# mlops sync: (?P<path>[\w.]+)(?:;[ \t].*)?)$"
)
_ABSENT = object()

_BLOCK = re.compile(r"^(?P<indent>[ \t]*)# mlops sync: (?P<path>[\w.]+)$")
# Targets whose workflows log in to a cloud through GitHub's OIDC token (ops/deploy/login.py).
OIDC_TARGETS = ("aws", "gcp", "azure")


def derived(values: dict) -> dict:
    """Literals computed from config values: `workflows.id_token`, the jobs' OIDC permission, is
    granted only where the target logs in to a cloud (least privilege for the local target, and for
    a kubernetes target without a `cluster` block); `workflows.packages` only where CD pushes images
    to GitHub's registry."""
    target = _lookup(values, "deploy.target")
    if target is _ABSENT:
        return {}
    cluster = _lookup(values, "deploy.kubernetes.cluster") if target == "kubernetes" else None
    logs_in = target in OIDC_TARGETS or cluster not in (None, _ABSENT)
    # The kubernetes target's images go to ghcr.io by default: CD pushes them with its GITHUB_TOKEN.
    packages = "write" if target == "kubernetes" else "none"
    return {"workflows": {"id_token": "write" if logs_in else "none", "packages": packages}}


def _lookup(values: dict, dotted: str):
    for part in dotted.split("."):
        values = values.get(part, _ABSENT) if isinstance(values, dict) else _ABSENT
    return values


def synced_text(text: str, values: dict, partial: bool = False) -> str:
    """`text` with its tagged literals from `values`. A tag `values` lacks is an error (a typo must not
    pass), unless `partial`: the template's post-generation hook has only the answers it was given."""

    def lookup(path: str):
        if (value := _lookup(values, path)) is _ABSENT and not partial:
            raise KeyError(f"`# mlops sync: {path}` names no config value")
        return value

    def replace(match: re.Match) -> str:
        value = lookup(match["path"])
        return match[0] if value is _ABSENT else f"{match['key']}{json.dumps(value)}{match['tag']}"

    lines, out = text.split("\n"), []
    while lines:
        line = lines.pop(0)
        out.append(_LINE.sub(replace, line))
        if (block := _BLOCK.match(line)) and (items := lookup(block["path"])) is not _ABSENT:
            while lines and lines[0].startswith(f"{block['indent']}- "):
                lines.pop(0)
            out += [f"{block['indent']}- {item}" for item in items]
    return "\n".join(out)


def sync(root: Path, values: dict, write: bool = True, partial: bool = False) -> list[str]:
    """Files under `root` whose literals differ from `values` (rewritten when `write`)."""
    stale, values = [], {**values, **derived(values)}
    for name in SYNCED_FILES:
        path = root / name
        if not path.exists():
            continue
        text = path.read_text()
        try:
            new = synced_text(text, values, partial)
        except KeyError as exc:
            raise KeyError(f"{name}: {exc.args[0]}") from None
        if new != text:
            stale.append(name)
            if write:
                path.write_text(new)
    return stale
