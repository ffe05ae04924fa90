"""BentoML entry point (`bentoml serve`, bentofile.yaml). The service itself lives in the package.

Inside a built bento the package is not installed, so its `src/` folder (copied in by bentofile.yaml)
is put on the import path first.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from {{ cookiecutter.package_name }}.ops.serving.service import Model  # noqa: E402

__all__ = ["Model"]
