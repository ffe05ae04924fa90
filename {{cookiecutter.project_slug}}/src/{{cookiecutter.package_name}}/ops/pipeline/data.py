"""Reading tables and the prepare step (train/test split)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Column, Config
from ..errors import MlopsError

PREPARED = Path("data/prepared")
TRAIN, TEST = PREPARED / "train.parquet", PREPARED / "test.parquet"


class DataError(MlopsError):
    """A data file cannot be read or lacks what the config declares; str() names the file."""


def read_table(path: str | Path) -> pd.DataFrame:
    """CSV or Parquet, from a path or an fsspec URI (s3://, gs://, az://, https://)."""
    text = str(path)
    try:
        if text.endswith((".parquet", ".pq")):
            return _unique_columns(pd.read_parquet(text), text)
        if text.endswith((".csv", ".csv.gz")):
            _unique_columns(pd.read_csv(text, header=None, nrows=1), text, header=True)  # read_csv renames a.1
            return pd.read_csv(text)
    except FileNotFoundError:
        raise DataError(f"{text}: file not found") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{text}: the file is empty (expected a header and rows)") from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{text}: cannot be read as a table: {exc}") from None
    raise DataError(f"{text}: expected a .csv, .csv.gz or .parquet file")


def _unique_columns(df: pd.DataFrame, source: str, header: bool = False) -> pd.DataFrame:
    names = pd.Series(df.iloc[0] if header else df.columns)
    if dupes := sorted(set(names[names.duplicated()].astype(str))):
        raise DataError(f"{source}: duplicate column names {dupes} (each column needs its own name)")
    return df


def write_table(df: pd.DataFrame, path: Path, index: bool = True) -> None:
    """Parquet or CSV (by suffix) via a temporary file: a failure never leaves half a file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=index)
    tmp.replace(path)


def features(config: Config, df: pd.DataFrame, source: str = "the data") -> pd.DataFrame:
    """The model's input: the declared columns in order, each as the model takes its type. Numeric and
    integer columns become floats, booleans 0/1, categorical codes text ("2019" whether the file held
    2019 or 2019.0); missing values are NaN. Training, the service, batch and drift all pass here."""
    missing = [name for name in config.data.columns if name not in df.columns]
    if missing:
        raise DataError(f"columns declared in mlops.yaml data.columns are missing from {source}: {missing}")
    columns = config.data.columns.items()
    typed = {name: _model_column(df[name], col, f"{source}: column {name!r}") for name, col in columns}
    return pd.DataFrame(typed, index=df.index)


def _model_column(values: pd.Series, col: Column, where: str) -> pd.Series:
    if col.type in ("numeric", "integer"):
        if pd.api.types.is_bool_dtype(values):
            raise DataError(f"{where} is declared {col.type} but holds true/false")
        try:
            return pd.to_numeric(values).astype("float64")
        except (ValueError, TypeError) as exc:
            raise DataError(f"{where} is declared {col.type}: {exc}") from None
    if col.type == "boolean":
        numbers = values.map({True: 1.0, False: 0.0}).astype("float64")  # 1 == True: 0/1 codes too
        if (bad := values[numbers.isna() & values.notna()]).size:
            raise DataError(f"{where} is declared boolean but holds {bad.iloc[0]!r}")
        return numbers
    return _codes(values)


def _codes(values: pd.Series) -> pd.Series:
    """Categorical codes as text: 2019 and 2019.0 (an integer column with gaps) are both "2019"."""
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")
    text = values.astype(str).astype(object)
    return text.where(values.notna(), np.nan)


def request_rows(config: Config, df: pd.DataFrame) -> list[dict]:
    """Rows of `df` as a client sends them to the service: each declared column as its kind of JSON
    value (an integer column read as 3.0 is sent as 3); missing values are null."""
    columns = {}
    for name, col in config.data.columns.items():
        kind, values = col.kind(), df[name]
        typed = _codes(values) if kind == "string" else values.astype(object)
        cast = {"numeric": float, "integer": int, "boolean": bool, "string": str}[kind]
        columns[name] = [None if pd.isna(v) else cast(v) for v in typed]
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def split(config: Config, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded random split; row labels of the source file are kept so reports can name rows."""
    rng = np.random.default_rng(config.data.seed)
    is_test = rng.random(len(df)) < config.data.test_share
    return df[~is_test], df[is_test]


def append_rows(config: Config, rows: pd.DataFrame, source: str) -> int:
    """Add labelled rows (features and target) to data.source, the retraining data; returns how many."""
    needed = [*config.data.columns, config.data.target.column]
    if missing := [name for name in needed if name not in rows.columns]:
        raise DataError(f"{source}: lacks {missing} (retraining rows need features and labels)")
    data = read_table(config.data.source)
    write_table(pd.concat([data, rows[needed]], ignore_index=True), Path(config.data.source), index=False)
    return len(rows)


def check_table(config: Config, df: pd.DataFrame, source: str) -> None:
    """What makes a table unusable for training, each named in one line (before anything is written)."""
    if df.empty:
        raise DataError(f"{source}: no rows (only a header)" if len(df.columns) else f"{source}: the file is empty")
    declared = [*config.data.columns, config.data.target.column]
    if empty := [name for name in declared if name in df.columns and df[name].isna().all()]:
        raise DataError(f"{source}: column {empty[0]!r} has no values (all {len(df)} rows are missing)")
    target = config.data.target
    if target.task == "classification" and target.column in df.columns and df[target.column].nunique() < 2:
        label = df[target.column].dropna().iloc[0]
        raise DataError(f"{source}: target {target.column!r} has a single class ({label!r}): nothing to classify")


def prepare(config: Config, check: Callable[[pd.DataFrame], None] = lambda frame: None) -> tuple[int, int]:
    """Split data.source into the prepared files; `check` may raise first, and nothing is written."""
    data = read_table(config.data.source)
    check_table(config, data, config.data.source)
    check(data)
    train, test = split(config, data)
    write_table(train, TRAIN)
    write_table(test, TEST)
    return len(train), len(test)
