"""Write the site's generated pages: the mlops.yaml reference (from the baked JSON Schema) and the
per-target setup pages (from the baked project's docs/deploy/<target>.md).

    .venv/bin/python docs/gen/pages.py           rewrite them
    .venv/bin/python docs/gen/pages.py --check   exit 1 naming each stale page, write nothing

docs/benchmarks.md has its own generator, bench/report.py (its inputs are the benchmark results).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import config_reference
import target_pages

ROOT = Path(__file__).resolve().parents[2]
COMMAND = ".venv/bin/python docs/gen/pages.py"


def generated() -> dict[Path, str]:
    return {**config_reference.pages(), **target_pages.pages()}


def stale(pages: dict[Path, str]) -> list[Path]:
    return [path for path, text in pages.items() if not path.exists() or path.read_text() != text]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale pages (exit 1)")
    args = parser.parse_args()
    pages = generated()
    outdated = stale(pages)
    if args.check:
        for path in outdated:
            print(f"{path.relative_to(ROOT)} is stale: run {COMMAND}", file=sys.stderr)
        sys.exit(1 if outdated else 0)
    for path in outdated:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(pages[path])
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
