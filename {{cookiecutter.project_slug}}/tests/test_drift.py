"""Drift checks with the real Evidently (its import takes seconds; runs are shared per module)."""

import pytest

from {{ cookiecutter.package_name }}.ops.config import Config, Drift, load_config
from {{ cookiecutter.package_name }}.ops.monitoring.drift import (
    ColumnDrift,
    DriftResult,
    check,
    markdown,
    save_html,
    shift_window,
)
from {{ cookiecutter.package_name }}.ops.pipeline.data import DataError, read_table

SHIFTED = 12  # of the bundled data's 30 columns: 40%, above the default drift_share of 30%


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load_config()


@pytest.fixture(scope="module")
def raw(cfg):
    return read_table(cfg.data.source)


@pytest.fixture(scope="module")
def unshifted(cfg, raw):
    return check(cfg, raw, shift_window(raw, list(cfg.data.columns), 0.0, seed=1))


@pytest.fixture(scope="module")
def shifted(cfg, raw):
    """The bundled data against a window whose first SHIFTED columns moved by one standard deviation."""
    columns = list(cfg.data.columns)[:SHIFTED]
    return columns, check(cfg, raw, shift_window(raw, columns, 1.0, seed=1))


def with_drift(config: Config, columns: int | None = None, **drift) -> Config:
    """`config` with other monitoring.drift settings (and, if given, only its first `columns`)."""
    update = {"monitoring": config.monitoring.model_copy(update={"drift": Drift(**drift)})}
    if columns:
        update["data"] = config.data.model_copy(update={"columns": dict(list(config.data.columns.items())[:columns])})
    return config.model_copy(update=update)


def test_a_resample_of_the_data_does_not_drift(cfg, raw, unshifted):
    assert not unshifted.drifted and unshifted.share < cfg.monitoring.drift.drift_share
    assert [col.name for col in unshifted.columns] == list(cfg.data.columns)
    assert unshifted.rows == unshifted.total_rows == (len(raw), len(raw))


def test_a_shifted_window_drifts_in_the_shifted_columns(cfg, shifted):
    columns, result = shifted
    assert result.drifted and result.share >= SHIFTED / len(cfg.data.columns)
    drifted = {col.name for col in result.drifted_columns}
    assert set(columns) <= drifted and len(drifted - set(columns)) <= 2
    first = result.columns[0]  # 569 rows: Evidently's automatic choice is K-S, drift below p 0.05
    assert (first.method, first.threshold, first.drifted) == ("K-S p_value", 0.05, True)
    assert first.score < 0.05


def test_shift_window_keeps_every_column_and_refuses_text(cfg, raw):
    window = shift_window(raw, [], 0.0, seed=3)
    assert list(window.columns) == list(raw.columns) and len(window) == len(raw)
    with pytest.raises(DataError, match="'city'"):
        shift_window(raw.assign(city="rome"), ["city"], 1.0, seed=3)


def test_sample_size_caps_the_rows_compared_and_is_seeded(cfg, raw):
    config = with_drift(cfg, columns=4, sample_size=200)
    window = shift_window(raw, list(config.data.columns), 1.0, seed=1)
    first, second = check(config, raw, window), check(config, raw, window)
    assert (first.rows, first.total_rows) == ((200, 200), (len(raw), len(raw)))
    assert [c.score for c in first.columns] == [c.score for c in second.columns]
    assert first.drifted and len(first.drifted_columns) == 4
    everything = check(with_drift(cfg, columns=4, sample_size=None), raw, raw.head(300))
    assert everything.rows == everything.total_rows == (len(raw), 300)


def test_markdown_names_the_drifted_columns_worst_first(cfg, shifted):
    _, result = shifted
    lines = markdown(result).splitlines()
    count = len(result.drifted_columns)
    assert lines[0] == f"### Drift detected: {count} of 30 columns ({result.share:.0%}) drifted, threshold 30%"
    assert f"`{cfg.data.current}` (569 rows)" in lines[2]
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| column")]
    assert {row.split(" | ")[0][2:] for row in rows} == {c.name for c in result.drifted_columns}
    scores = [float(row.split(" | ")[2]) for row in rows]
    assert scores == sorted(scores)  # p-values: the smallest is the worst


def test_markdown_of_no_drift_has_no_table(unshifted):
    text = markdown(unshifted)
    assert text.startswith("### No dataset drift: ") and "| column" not in text


def test_markdown_caps_the_table_and_ranks_distances_and_p_values():
    columns = [ColumnDrift(f"c{i}", "Wasserstein distance (normed)", 0.1 + i / 100, 0.1, True) for i in range(20)]
    columns += [ColumnDrift("p", "K-S p_value", 1e-9, 0.05, True), ColumnDrift("ok", "K-S p_value", 0.5, 0.05, False)]
    result = DriftResult(True, 21 / 22, 0.3, columns, (50_000, 50_000), (1_000_000, 80_000), ("ref", "cur"))
    lines = markdown(result).splitlines()
    assert lines[0] == "### Drift detected: 21 of 22 columns (95%) drifted, threshold 30%"
    assert lines[2] == (
        "Reference `ref` (50,000 sampled of 1,000,000 rows) vs current `cur` (50,000 sampled of 80,000 rows)."
    )
    table = [line for line in lines if line.startswith("| ")]
    assert table[1] == "| p | K-S p_value | 1e-09 | 0.05 |"  # the worst: 2e7 times below its threshold
    assert table[2] == "| c19 | Wasserstein distance (normed) | 0.29 | 0.1 |"
    assert len(table) == 1 + 15 + 1 and table[-1] == "| +6 more | | | |"


def test_save_html_writes_evidentlys_report(shifted, tmp_path):
    _, result = shifted
    path = save_html(result, tmp_path / "reports" / "drift.html")
    assert "<html" in path.read_text()[:2000].lower()
    assert [p.name for p in path.parent.iterdir()] == ["drift.html"]


def test_a_window_lacking_a_declared_column_is_a_data_error(cfg, raw):
    column = list(cfg.data.columns)[3]
    with pytest.raises(DataError, match=rf"^{cfg.data.current}: .*'{column}'"):
        check(cfg, raw, raw.drop(columns=[column]))
    with pytest.raises(DataError, match=r"^ref.csv: .*'"):
        check(cfg, raw.drop(columns=[column]), raw, sources=("ref.csv", "cur.csv"))


def test_categorical_columns(mixed_config, mixed_frame):
    current = mixed_frame.copy()
    current.loc[current.index[:150], "city"] = "rome"  # half the rows move to one city
    result = check(mixed_config, mixed_frame, current)
    by_name = {col.name: col for col in result.columns}
    assert [name for name, col in by_name.items() if col.drifted] == ["city"]
    assert by_name["city"].method == "chi-square p_value" and by_name["area"].method == "K-S p_value"
    assert not result.drifted and result.share == 0.25  # 1 of 4 columns, below drift_share 0.3

    numeric = check(with_drift(mixed_config, method="wasserstein", column_threshold=0.5), mixed_frame, current)
    methods = {col.name: (col.method, col.threshold) for col in numeric.columns}
    assert methods["area"] == ("Wasserstein distance (normed)", 0.5)
    assert methods["city"] == ("chi-square p_value", 0.05)  # categorical: Evidently's choice and default
