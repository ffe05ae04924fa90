"""Data validation declared in mlops.yaml, checked with pandera; the report names columns and rows."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from ..config import Column, Config

SHOWN_ROWS = 5


def _missing_share_check(limit: float) -> pa.Check:
    return pa.Check(
        lambda s: s.isna().mean() <= limit,
        element_wise=False,
        ignore_na=False,
        name=f"missing share <= {limit}",
    )


def _whole(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_) and float(value).is_integer()


def _true_or_false(value) -> bool:
    return isinstance(value, bool | np.bool_) or (isinstance(value, numbers.Real) and value in (0, 1))


# Per kind of value (Column.kind()): pandas dtype to coerce to, and the rule each value must meet.
_KIND_RULES = {
    "numeric": (float, None),
    "integer": (float, pa.Check(_whole, element_wise=True, name="whole numbers")),
    "boolean": (None, pa.Check(_true_or_false, element_wise=True, name="true or false")),
    "string": (None, None),  # codes of any kind are read as text (data.features)
}


def _column(col: Column, default_missing: float) -> pa.Column:
    checks = [_missing_share_check(col.max_missing_share if col.max_missing_share is not None else default_missing)]
    dtype, rule = _KIND_RULES[col.kind()]
    checks += [rule] if rule is not None else []
    if col.min is not None:
        checks.append(pa.Check.ge(col.min))
    if col.max is not None:
        checks.append(pa.Check.le(col.max))
    if col.values is not None:
        checks.append(pa.Check.isin(col.values))
    return pa.Column(dtype, checks, nullable=True, coerce=dtype is not None, required=True)


def build_schema(config: Config) -> pa.DataFrameSchema:
    columns = {name: _column(col, config.validation.max_missing_share) for name, col in config.data.columns.items()}
    target = config.data.target
    target_checks = [pa.Check.isin(target.values)] if target.values is not None else []
    target_type = float if target.task == "regression" else None
    columns[target.column] = pa.Column(
        target_type, target_checks, nullable=False, coerce=target_type is not None, required=True
    )
    return pa.DataFrameSchema(columns, strict=False, name="mlops.yaml data")


def _rows(index: pd.Series) -> str:
    rows = sorted(int(i) for i in index.dropna().unique())
    shown = ", ".join(map(str, rows[:SHOWN_ROWS]))
    return shown + (f" (+{len(rows) - SHOWN_ROWS} more)" if len(rows) > SHOWN_ROWS else "") if rows else "-"


def _readable(failures: pd.DataFrame) -> pd.DataFrame:
    """Name missing columns as such, and once a column has the wrong type drop its other rules (noise)."""
    failures = failures.copy()
    absent = failures["check"] == "column_in_dataframe"
    failures.loc[absent, "column"] = failures.loc[absent, "failure_case"]
    failures.loc[absent, "check"] = "column is missing"
    wrong_type = failures["check"].str.startswith("coerce_dtype")
    failures.loc[wrong_type, "check"] = "must be numeric"
    bad_columns = set(failures.loc[wrong_type, "column"])
    return failures[~failures["column"].isin(bad_columns) | wrong_type]


def _line(column: str, check: str, group: pd.DataFrame, df: pd.DataFrame) -> str:
    if check.startswith("missing share"):  # a whole-column check: name the missing rows instead
        rows = pd.Series(df.index[df[column].isna()])
        examples = f"{df[column].isna().mean():.1%} missing"
    else:
        rows = group["index"].dropna()
        examples = ", ".join(repr(v) for v in group["failure_case"].head(3))
    count = str(rows.nunique()) if len(rows) else "whole column"
    return f"| {column} | {check} | {count} | {_rows(rows)} | {examples} |"


def _report(failures: pd.DataFrame, df: pd.DataFrame, source: str) -> str:
    lines = [
        f"### Data validation failed: {source}",
        "",
        "| column | rule | failing rows | example rows | example values |",
        "|---|---|---|---|---|",
    ]
    for (column, check), group in _readable(failures).groupby(["column", "check"], sort=False):
        lines.append(_line(column, check, group, df))
    return "\n".join(lines) + "\n"


def validate(config: Config, df: pd.DataFrame, source: str) -> str | None:
    """None when `df` meets every rule, else a markdown report (one line per column and rule)."""
    try:
        with warnings.catch_warnings():  # pandera's own pandas FutureWarnings are not the user's business
            warnings.simplefilter("ignore", FutureWarning)
            build_schema(config).validate(df, lazy=True)
    except SchemaErrors as exc:
        return _report(exc.failure_cases, df, source)
    return None
