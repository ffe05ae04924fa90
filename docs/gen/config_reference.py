"""docs/reference.md from the baked project's JSON Schema of mlops.yaml (`mlops config schema`).

One section per block (an object of the schema), reached from the root in the order of the file:
each field with its type, default, constraints and description, exactly as the schema says them.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "{{cookiecutter.project_slug}}" / "mlops.schema.json"
PAGE = ROOT / "docs" / "reference.md"

BOUNDS = {
    "minimum": ">=",
    "exclusiveMinimum": ">",
    "maximum": "<=",
    "exclusiveMaximum": "<",
    "minLength": "length >=",
    "maxLength": "length <=",
    "minItems": "items >=",
    "minProperties": "entries >=",
}


class Walker:
    """Collects the blocks of the schema, depth first, each under its dotted path."""

    def __init__(self, schema: dict):
        self.defs = schema.get("$defs", {})
        self.blocks: list[tuple[str, dict]] = []

    def resolve(self, node: dict) -> dict:
        while "$ref" in node:
            node = self.defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def variants(self, node: dict) -> list[dict]:
        """The non-null alternatives of a field (`X | None` is one alternative)."""
        options = node.get("anyOf") or node.get("oneOf") or [node]
        flat = [sub for option in options for sub in (option.get("oneOf") or [option])]
        return [sub for sub in flat if sub.get("type") != "null"]

    def walk(self, path: str, node: dict) -> None:
        node = self.resolve(node)
        self.blocks.append((path, node))
        for name, field in node.get("properties", {}).items():
            for block, child in self.children(f"{path}.{name}" if path else name, field):
                self.walk(block, child)

    def children(self, path: str, field: dict) -> list[tuple[str, dict]]:
        """The blocks below a field: an object, a map of objects, or one per tagged variant."""
        found = []
        objects = [self.resolve(v) for v in self.variants(field)]
        objects = [v for v in objects if "properties" in v]
        for variant in objects:
            tag = _tag(variant) if len(objects) > 1 else None
            found.append((f"{path} ({tag})" if tag else path, variant))
        extra = field.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in self.resolve(extra):
            found.append((f"{path}.<name>", self.resolve(extra)))
        return found


def _tag(variant: dict) -> str | None:
    """`cloud: aws` for the variant of a tagged union (its const field)."""
    for name, field in variant.get("properties", {}).items():
        if "const" in field:
            return f"{name}: {field['const']}"
    return None


def anchor(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def code(value) -> str:
    """A code span: Python-Markdown's tables keep a pipe inside one, unescaped."""
    return f"`{value if isinstance(value, str) else json.dumps(value)}`"


def prose(text: str) -> str:
    """A description in a table cell: `<name>` shown as text, a pipe not splitting the cell (code
    spans as they are: Markdown shows them literally)."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(p if p.startswith("`") else html.escape(p, quote=False).replace("|", "\\|") for p in parts)


def type_of(walker: Walker, field: dict, path: str) -> str:
    """The field's type in words; a block links to its own section."""
    names = []
    for option in walker.variants(field):
        node = walker.resolve(option)
        if "properties" in node:
            tag = _tag(node) if len(walker.variants(field)) > 1 else None
            target = f"{path} ({tag})" if tag else path
            names.append(f"[block `{tag}`](#{anchor(target)})" if tag else f"[`{path}`](#{anchor(target)})")
        elif node.get("type") == "array":
            names.append(f"list of {_group(type_of(walker, node.get('items', {}), path))}")
        elif node.get("type") == "object":
            extra = node.get("additionalProperties")
            inner = type_of(walker, extra, f"{path}.<name>") if isinstance(extra, dict) else "any"
            names.append(f"map of name to {_group(inner)}")
        elif "anyOf" in node:
            names.append(type_of(walker, node, path))
        else:
            names.append(node.get("type", "any"))
    if any(option.get("type") == "null" for option in field.get("anyOf", [])):
        names.append("null")
    return " or ".join(dict.fromkeys(names))


def _group(kinds: str) -> str:
    return f"({kinds})" if " or " in kinds else kinds


def constraints(walker: Walker, field: dict) -> str:
    parts = []
    for option in walker.variants(field):
        node = walker.resolve(option)
        if "properties" in node:
            continue
        if "enum" in node:
            parts.append("one of " + ", ".join(code(v) for v in node["enum"]))
        if "const" in node:
            parts.append(f"always {code(node['const'])}")
        parts += [f"{word} {node[key]}" for key, word in BOUNDS.items() if key in node]
        if "pattern" in node:
            parts.append(f"matches {code(node['pattern'])}")
        items = node.get("items")
        if isinstance(items, dict) and (inner := constraints(walker, items)):
            parts.append(f"each item: {inner}")
    return "; ".join(parts)


def default_of(walker: Walker, field: dict, required: bool) -> str:
    if required:
        return "required"
    if "default" not in field:
        return "optional"
    value = field["default"]
    if isinstance(value, dict) and value:
        return "the block's defaults"
    return code(value)


def description(walker: Walker, field: dict) -> str:
    """The field's own description, else that of the one block it holds."""
    if field.get("description"):
        return field["description"]
    blocks = [walker.resolve(v) for v in walker.variants(field)]
    return blocks[0].get("description", "") if len(blocks) == 1 else ""


def block_section(walker: Walker, path: str, node: dict) -> list[str]:
    title = path or "mlops.yaml"
    lines = [f"## `{title}` {{#{anchor(path) or 'root'}}}", ""]
    if node.get("description"):
        lines += [prose(node["description"]), ""]
    if tag := _tag(node):
        lines += [f"The form chosen by `{tag}`.", ""]
    lines += ["| field | type | default | constraints | description |", "|---|---|---|---|---|"]
    required = set(node.get("required", []))
    for name, field in node.get("properties", {}).items():
        if "const" in field:  # a union's tag: named in the section title
            continue
        child = f"{path}.{name}" if path else name
        cells = [
            f"`{name}`",
            type_of(walker, field, child),
            default_of(walker, field, name in required),
            constraints(walker, field),
            prose(description(walker, field)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def render(schema: dict) -> str:
    walker = Walker(schema)
    walker.walk("", schema)
    head = [
        "# `mlops.yaml` reference",
        "",
        "<!-- Generated by docs/gen/pages.py from {{cookiecutter.project_slug}}/mlops.schema.json: do not edit. -->",
        "",
        "Every block and field of a baked project's `mlops.yaml`, generated from its JSON Schema",
        "(`mlops.schema.json`, which `mlops config schema --write` exports from the config model in",
        "`ops/config.py`). Defaults are those the model applies when a field is left out; a baked",
        "`mlops.yaml` sets some of them per deploy target (the canary's timing: [Deploy](deploy.md#timing-per-target)).",
        "Unknown keys are errors. What the fields do together: [Configuration](config.md).",
        "",
    ]
    body = [line for path, node in walker.blocks for line in block_section(walker, path, node)]
    return "\n".join(head + body).rstrip() + "\n"


def pages() -> dict[Path, str]:
    return {PAGE: render(json.loads(SCHEMA.read_text()))}
