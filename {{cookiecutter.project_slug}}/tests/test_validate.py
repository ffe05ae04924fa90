import pandas as pd

from {{ cookiecutter.package_name }}.ops.pipeline.data import read_table
from {{ cookiecutter.package_name }}.ops.pipeline.validate import validate


def test_the_bundled_data_passes(config):
    assert validate(config, read_table(config.data.source), "raw") is None


def test_bad_data_is_reported_by_column_rule_and_row(config):
    frame = read_table(config.data.source)
    first, second = list(config.data.columns)[:2]
    frame.loc[7, first] = -3.0
    frame.loc[range(10, 40), second] = None
    frame.loc[2, config.data.target.column] = 5
    frame = frame.drop(columns=[list(config.data.columns)[-1]])
    report = validate(config, frame, "data/raw.csv")
    lines = report.splitlines()
    assert "data/raw.csv" in lines[0]
    assert any(line.startswith(f"| {first} | greater_than_or_equal_to(0.0) | 1 | 7 |") for line in lines)
    assert any(
        line.startswith(f"| {second} | missing share <= 0.01 | 30 | 10, 11, 12, 13, 14 (+25 more) |") for line in lines
    )
    assert any(line.startswith(f"| {config.data.target.column} | isin([0, 1]) | 1 | 2 |") for line in lines)
    assert any(line.startswith(f"| {list(config.data.columns)[-1]} | column is missing |") for line in lines)


def test_text_in_a_numeric_column_is_a_type_error_only(config):
    frame = read_table(config.data.source)
    column = list(config.data.columns)[0]
    frame[column] = frame[column].astype(object)
    frame.loc[4, column] = "n/a"
    report = validate(config, frame, "x")
    rows = [line for line in report.splitlines() if line.startswith(f"| {column} |")]
    assert rows == [f"| {column} | must be numeric | 1 | 4 | 'n/a' |"]


def test_categorical_rules(mixed_config, mixed_frame):
    assert validate(mixed_config, mixed_frame, "x") is None
    bad = mixed_frame.copy()
    bad.loc[3, "city"] = "madrid"
    report = validate(mixed_config, pd.DataFrame(bad), "x")
    assert "| city | isin(['berlin', 'paris', 'rome']) | 1 | 3 | 'madrid' |" in report
