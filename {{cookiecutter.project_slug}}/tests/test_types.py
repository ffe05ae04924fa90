"""Column types for real tables: each declared type read, validated, fed to the model and sent by a
client the same way; and the tables prepare refuses, each in one line with nothing written."""

import copy
import re

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.ops.config import Config
from {{ cookiecutter.package_name }}.ops.monitoring.drift import check
from {{ cookiecutter.package_name }}.ops.pipeline import data as data_module
from {{ cookiecutter.package_name }}.ops.pipeline.data import DataError, check_table, features, prepare, request_rows
from {{ cookiecutter.package_name }}.ops.pipeline.validate import validate

COLUMNS = {
    "size": {"type": "numeric", "min": 0},
    "legs": {"type": "integer", "min": 0, "max": 10},
    "year": {"type": "categorical", "values": [2019, 2020, 2021]},
    "colour": {"type": "categorical"},
    "wild": {"type": "boolean"},
}


@pytest.fixture
def typed_config(raw_config) -> Config:
    raw = copy.deepcopy(raw_config)
    raw["data"].update(
        source="own.csv",
        target={"column": "species", "task": "classification", "values": ["cat", "dog", "owl"]},
        columns=COLUMNS,
    )
    raw["validation"]["max_missing_share"] = 0.5
    raw["training"].update(metric="accuracy", min_metric=0.5)
    return Config.model_validate(raw)


@pytest.fixture
def table(tmp_path) -> pd.DataFrame:
    """As pandas reads a CSV of it: `year` has gaps, so its integer codes come back as floats."""
    rng = np.random.default_rng(1)
    n = 200
    frame = pd.DataFrame(
        {
            "size": rng.uniform(0, 3, n),
            "legs": rng.integers(0, 8, n),
            "year": rng.choice([2019, 2020, 2021], n).astype(float),
            "colour": rng.choice(["red", "green", None], n),
            "wild": rng.choice([True, False], n),
            "species": rng.choice(["cat", "dog", "owl"], n),
        }
    )
    frame.loc[::9, "year"] = np.nan
    path = tmp_path / "own.csv"
    frame.to_csv(path, index=False)
    return pd.read_csv(path)


def test_each_type_reaches_the_model_as_its_model_type(typed_config, table):
    X = features(typed_config, table)
    assert X.dtypes.astype(str).to_dict() == {
        "size": "float64",
        "legs": "float64",
        "year": "object",
        "colour": "object",
        "wild": "float64",
    }
    assert set(X["year"].dropna()) == {"2019", "2020", "2021"} and X["year"].isna().sum() == table["year"].isna().sum()
    assert set(X["wild"]) == {0.0, 1.0}


def test_request_rows_are_typed_as_a_client_sends_them_and_read_back_alike(typed_config, table):
    rows = request_rows(typed_config, table.head(20))
    first = next(row for row in rows if row["year"] is not None and row["colour"] is not None)
    assert [type(first[name]) for name in COLUMNS] == [float, int, int, str, bool]
    assert any(row["year"] is None for row in rows)
    back = features(typed_config, pd.DataFrame(rows, columns=list(COLUMNS)))
    pd.testing.assert_frame_equal(back, features(typed_config, table.head(20)).reset_index(drop=True))


def test_integer_codes_read_as_numbers_or_floats_do_not_drift(typed_config, table):
    served = pd.DataFrame(request_rows(typed_config, table), columns=list(COLUMNS))  # 2019, not 2019.0
    result = check(typed_config, table, served, ("reference", "served"))
    assert not result.drifted and not result.drifted_columns


def test_the_table_passes_validation_with_integer_codes(typed_config, table):
    assert validate(typed_config, table, "own.csv") is None


@pytest.mark.parametrize(
    "column, value, rule",
    [("legs", 2.5, "whole numbers"), ("wild", "yes", "true or false"), ("year", 1999, "isin([2019, 2020, 2021])")],
)
def test_a_value_outside_its_type_is_reported_by_column_and_row(typed_config, table, column, value, rule):
    bad = table.astype({column: object})
    bad.loc[3, column] = value
    report = validate(typed_config, bad, "own.csv")
    assert f"| {column} | {rule} | 1 | 3 |" in report, report


@pytest.mark.parametrize(
    "column, value, message",
    [("wild", "yes", "column 'wild' is declared boolean but holds 'yes'"), ("legs", True, "declared integer")],
)
def test_features_name_the_column_a_model_cannot_take(typed_config, table, column, value, message):
    bad = table.astype({column: object}) if column == "wild" else table.assign(legs=True)
    bad.loc[0, column] = value
    with pytest.raises(DataError, match=re.escape(message)):
        features(typed_config, bad, "batch.csv")


@pytest.mark.parametrize(
    "column, problem",
    [
        ({"type": "boolean", "min": 0}, "min/max apply to numeric and integer columns only"),
        ({"type": "numeric", "codes": "integer"}, "codes applies to categorical columns only"),
        ({"type": "categorical", "values": [2019, "2020"]}, "are not string values"),
        ({"type": "categorical", "codes": "integer", "values": ["a"]}, "are not integer values"),
        ({"type": "integer", "values": [1.5]}, "are not integer values"),
    ],
)
def test_incoherent_column_declarations_are_refused(raw_config, column, problem):
    raw = copy.deepcopy(raw_config)
    raw["data"]["columns"]["odd"] = column
    with pytest.raises(ValidationError, match=re.escape(problem)):
        Config.model_validate(raw)


def test_categorical_codes_take_the_kind_of_their_values(typed_config):
    kinds = {name: col.kind() for name, col in typed_config.data.columns.items()}
    assert kinds == {"size": "numeric", "legs": "integer", "year": "integer", "colour": "string", "wild": "boolean"}


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "the file is empty"),
        ("size,legs,year,colour,wild,species\n", "no rows (only a header)"),
        ("size,legs,year,colour,wild,species\n1,2,2019,red,True,cat\n2,3,2020,,False,cat\n", "single class ('cat')"),
        ("size,legs,year,colour,wild,species\n1,2,2019,,True,cat\n2,3,2020,,False,dog\n", "'colour' has no values"),
        ("size,legs,size,colour,wild,species\n1,2,3,red,True,cat\n", "duplicate column names ['size']"),
    ],
)
def test_prepare_refuses_an_unusable_table_in_one_line_and_writes_nothing(
    typed_config, tmp_path, monkeypatch, text, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "own.csv").write_text(text)
    with pytest.raises(DataError, match=re.escape(message)) as error:
        prepare(typed_config)
    assert "\n" not in str(error.value) and str(error.value).startswith("own.csv: ")
    assert not (tmp_path / data_module.PREPARED).exists()


def test_a_usable_table_passes_the_table_checks(typed_config, table):
    check_table(typed_config, table, "own.csv")
