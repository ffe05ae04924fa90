"""Reading tables and the prepare step (train/test split)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config import Config
from .errors import MlopsError

PREPARED = Path("data/prepared")
TRAIN, TEST = PREPARED / "train.parquet", PREPARED / "test.parquet"


class DataError(MlopsError):
    """A data file cannot be read or lacks what the config declares; str() names the file."""


def read_table(path: str | Path) -> pd.DataFrame:
    """CSV or Parquet, from a path or an fsspec URI (s3://, gs://, az://, https://)."""
    text = str(path)
    try:
        if text.endswith((".parquet", ".pq")):
            return pd.read_parquet(text)
        if text.endswith((".csv", ".csv.gz")):
            return pd.read_csv(text)
    except FileNotFoundError:
        raise DataError(f"{text}: file not found") from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{text}: cannot be read as a table: {exc}") from None
    raise DataError(f"{text}: expected a .csv, .csv.gz or .parquet file")


def write_table(df: pd.DataFrame, path: Path, index: bool = True) -> None:
    """Parquet or CSV (by suffix) via a temporary file: a failure never leaves half a file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=index)
    tmp.replace(path)


def features(config: Config, df: pd.DataFrame) -> pd.DataFrame:
    missing = [name for name in config.data.columns if name not in df.columns]
    if missing:
        raise DataError(f"columns declared in mlops.yaml data.columns are missing from the data: {missing}")
    return df[list(config.data.columns)]


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


def prepare(config: Config) -> tuple[int, int]:
    train, test = split(config, read_table(config.data.source))
    write_table(train, TRAIN)
    write_table(test, TEST)
    return len(train), len(test)
