"""The template's documentation site: it builds with `mkdocs build --strict` (every internal link,
anchor and snippet resolves), its generated pages are current, and the commands it names exist.

The generated pages: docs/reference.md (from the baked mlops.schema.json) and docs/deploy/<target>.md
(from the baked project's per-target pages), both by docs/gen/pages.py; docs/benchmarks.md by
bench/report.py from the benchmark results, which are not committed: its composition is tested on
results files made here. ~15 s.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import DEFAULT_PACKAGE, PYTHON, ROOT, VENV_BIN


def _load(path: Path):
    """A generator script as a module, by its path: bench/ on sys.path would shadow other modules."""
    spec = importlib.util.spec_from_file_location(f"_docs_{path.stem}", path)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # dataclasses look it up
    spec.loader.exec_module(module)
    return module


pages = _load(ROOT / "docs/gen/pages.py")  # puts docs/gen (config_reference, target_pages) on sys.path
reference, targets = sys.modules["config_reference"], sys.modules["target_pages"]
report = _load(ROOT / "bench/report.py")

DOCS = ROOT / "docs"
NAV_PAGES = sorted(
    p.relative_to(DOCS) for p in DOCS.rglob("*.md") if p.parts[len(DOCS.parts)] not in ("gen", "snippets")
)


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's banner about its successor
    command = [VENV_BIN / "mkdocs", "build", "--strict", "-f", config, "-d", site]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_the_site_builds_strict_with_every_page_diagram_and_snippet(tmp_path):
    done = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stdout + done.stderr
    for page in NAV_PAGES:  # --strict already fails on a page left out of the nav
        built = tmp_path / "site" / ("index.html" if page.stem == "index" else page.with_suffix("") / "index.html")
        assert built.is_file(), f"{page} was not built"
    concepts = (tmp_path / "site/concepts/index.html").read_text()
    assert '<pre class="mermaid"><code>flowchart' in concepts  # the loop diagram, as mkdocs-material renders it
    for html in (tmp_path / "site").rglob("*.html"):
        assert "--8&lt;--" not in html.read_text() and "--8<--" not in html.read_text(), f"snippet left in {html}"


def test_a_broken_anchor_fails_the_strict_build(tmp_path):
    """The validation settings of mkdocs.yml matter: mkdocs only reports a missing anchor by default."""
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "runbooks.md"
    page.write_text(page.read_text() + "\nSee [the policy](deploy.md#no-such-section).\n")
    done = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0
    assert "no-such-section" in done.stderr, done.stderr


def test_the_generated_pages_are_current():
    stale = [path.relative_to(ROOT) for path in pages.stale(pages.generated())]
    assert not stale, f"stale: {', '.join(map(str, stale))}: run {pages.COMMAND}"


def test_the_reference_has_every_block_with_every_field_of_the_schema():
    schema = json.loads(reference.SCHEMA.read_text())
    page = reference.PAGE.read_text()
    sections = {}  # heading -> the fields of its table
    for heading, body in re.findall(r"^## `([^`]+)`.*\n((?:.*\n)*?)(?=^## |\Z)", page, re.MULTILINE):
        sections[heading] = set(re.findall(r"^\| `([^`]+)` \|", body, re.MULTILINE))
    blocks = [schema, *schema["$defs"].values()]
    for block in blocks:
        fields = {name for name, field in block.get("properties", {}).items() if "const" not in field}
        if fields:
            assert fields in sections.values(), f"no section of docs/reference.md lists {sorted(fields)}"
    assert "deploy.canary.gates" in sections and "data.columns.<name>" in sections
    assert "deploy.kubernetes.cluster (cloud: gcp)" in sections  # one per variant of a tagged union


def test_a_per_target_page_is_the_file_a_bake_carries(bake):
    baked = bake(deploy_target="azure") / "docs" / "deploy" / "azure.md"
    assert targets.baked_page("azure") == baked.read_text()
    site = (DOCS / "deploy" / "azure.md").read_text()
    assert site.splitlines()[0] == baked.read_text().splitlines()[0]  # the bake's title, then the note
    assert baked.read_text().split("\n", 1)[1].strip() in site


def test_the_benchmarks_page_composes_the_results_files_present(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "serving.md").write_text("### Serving (2026-12-02)\n\n| side | req/s | vs FastAPI |\n|---|---|---|\n")
    (results / "pipeline.md").write_text("Full pipeline, 3 runs.\n\n| figure | wall s |\n|---|---|\n")
    (results / "targets.md").write_text("# Controller (date)\n\n## Calls\n\n```\n# not a heading\n```\n")
    (results / "extra.md").write_text("A results file of a new script.\n")
    os.utime(results / "pipeline.md", (0, datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC).timestamp()))
    page = report.compose(results)
    titles = re.findall(r"^## (.+)$", page, re.MULTILINE)
    assert titles == [
        "Where a full `dvc repro` spends its time",
        "The service against plain FastAPI and in-process predict",
        "The canary controller on the cloud targets' stand-ins",
        "`extra.md`",
        "Not in this page",
    ]
    assert "results file `pipeline.md` written 2026-11-30" in page
    assert "\n### Serving (2026-12-02)\n" in page and "\n### Controller (date)\n" in page
    assert "\n#### Calls\n" in page and "\n# not a heading\n" in page  # code fences keep their lines
    missing = page.split("## Not in this page")[1]
    assert "`bench/run.py`" in missing and "`bench/serving.py`" not in missing
    assert "4 results files in `bench/results/`" in page


def test_every_make_target_and_mlops_command_the_pages_name_exists(bake):
    project = bake()
    makefiles = [ROOT / "Makefile", project / "Makefile"]
    targets_ = {m for f in makefiles for m in re.findall(r"^([a-z][a-z-]*):", f.read_text(), re.MULTILINE)}
    listing = (
        f"import json, typer.main; from {DEFAULT_PACKAGE}.ops.cli import app; g = typer.main.get_command(app);"
        "print(json.dumps({n: sorted(getattr(c, 'commands', {})) for n, c in g.commands.items()}))"
    )
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    done = subprocess.run([PYTHON, "-c", listing], capture_output=True, text=True, env=env, check=True, cwd=project)
    commands = json.loads(done.stdout)
    named = []
    for page in [*DOCS.rglob("*.md"), project / "README.md"]:
        text = page.read_text()
        code = re.findall(r"```.*?```|`[^`\n]+`", text, re.DOTALL)  # commands are named in code
        for span in code:
            named += [(page.name, "make", m) for m in re.findall(r"(?<![\w/-])make ([a-z][a-z-]*\*?)", span)]
            named += [
                (page.name, "mlops", m) for m in re.findall(r"(?<![\w.-])mlops ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", span)
            ]
    assert len(named) > 50
    unknown = []
    for page, tool, name in named:
        if tool == "make" and not any(t == name or name.endswith("*") and t.startswith(name[:-1]) for t in targets_):
            unknown.append(f"{page}: make {name}")
        if tool == "mlops":
            command, _, sub = name.partition(" ")
            if command not in commands or (commands[command] and sub and sub not in commands[command]):
                unknown.append(f"{page}: mlops {name}")
    assert not unknown, "named in the docs, missing from the Makefiles or the CLI: " + "; ".join(sorted(set(unknown)))
