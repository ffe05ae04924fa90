"""The request schema of the service, derived from the columns declared in mlops.yaml."""

from __future__ import annotations

from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, create_model

from .config import Column, Config


def _field_type(col: Column) -> Any:
    if col.values is not None:
        base = Literal[tuple(col.values)]
    else:
        base = float if col.type == "numeric" else str
    return base | None  # None is a missing value: the model imputes it


def row_model(config: Config) -> type[BaseModel]:
    """One input row: every declared column is required (null allowed), unknown keys are rejected."""
    fields = {name: (_field_type(col), ...) for name, col in config.data.columns.items()}
    return create_model("Row", __config__=ConfigDict(extra="forbid"), **fields)


def to_frame(config: Config, rows: list[BaseModel]) -> pd.DataFrame:
    return pd.DataFrame([row.model_dump() for row in rows], columns=list(config.data.columns))
