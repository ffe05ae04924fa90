"""The request schema of the service, derived from the columns declared in mlops.yaml.

Strict on purpose: a client that sends `"1"`, `true` or `1e309` for a number gets a 400 naming the
field, not a silent guess. The rules are those of `mlops validate` (ops/pipeline/validate.py): min/max
inclusive, `values` by equality; every field nullable (null is a missing value, the model imputes it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, create_model
from pydantic_core import PydanticCustomError

from ..config import Column, Config

if TYPE_CHECKING:
    import pandas as pd

# kind() -> the strict type of one value (JSON integers are numbers; bools and strings are not).
_BASES: dict[str, Any] = {
    "numeric": Annotated[float, Strict(), Field(allow_inf_nan=False)],
    "integer": Annotated[int, Strict()],
    "boolean": Annotated[bool, Strict()],
    "string": Annotated[str, Strict()],
}


def _one_of(values: list) -> AfterValidator:
    def check(value: Any) -> Any:
        if value not in values:
            raise PydanticCustomError("enum", "Input should be one of {expected}", {"expected": values})
        return value

    return AfterValidator(check)


def field_type(col: Column) -> Any:
    """The request field of one column (None: missing)."""
    constraints: list[Any] = [Field(ge=col.min, le=col.max)]
    if col.values is not None:
        constraints += [_one_of(col.values), Field(json_schema_extra={"enum": col.values})]
    return Annotated[_BASES[col.kind()], *constraints] | None


def row_model(config: Config) -> type[BaseModel]:
    """One input row: every declared column is required (null allowed), unknown keys are rejected."""
    fields = {name: (field_type(col), ...) for name, col in config.data.columns.items()}
    return create_model("Row", __config__=ConfigDict(extra="forbid"), **fields)


def request_model(config: Config) -> type[BaseModel]:
    """The body of POST /predict: `{"rows": [...]}`, 1 to serving.max_batch_size rows."""
    rows = Annotated[list[row_model(config)], Field(min_length=1, max_length=config.serving.max_batch_size)]
    return create_model("PredictRequest", __config__=ConfigDict(extra="forbid"), rows=(rows, ...))


def to_frame(config: Config, rows: list[BaseModel]) -> pd.DataFrame:
    """Request rows -> the model's input frame (data.features casts each column to its model dtype)."""
    import pandas as pd  # here, not above: `bentoml serve`'s parent imports the schema, never a frame

    from ..pipeline.data import features

    frame = pd.DataFrame([row.model_dump() for row in rows], columns=list(config.data.columns))
    return features(config, frame)
