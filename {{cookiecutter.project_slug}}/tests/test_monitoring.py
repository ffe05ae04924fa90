"""CT's side of the request log: the window since the last check, labels by request id, the
concept-drift rule and the flap guard. Real files in a temporary sink; no Evidently (fast)."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.ops.config import Config
from {{ cookiecutter.package_name }}.ops.monitoring import checks, feedback
from {{ cookiecutter.package_name }}.ops.monitoring.sink import Sink, stamp
from {{ cookiecutter.package_name }}.ops.monitoring.window import bounds, load
from {{ cookiecutter.package_name }}.ops.pipeline.data import DataError

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def cfg(raw_config, tmp_path) -> Config:
    raw_config["monitoring"].update(capture={"sink": str(tmp_path / "sink")}, min_rows=2)
    return Config.model_validate(raw_config)


def capture(cfg: Config, request_id: str, at: datetime, rows: int = 2) -> None:
    """Rows laid out as the service writes them: requests/date=YYYY-MM-DD/<stamp>.parquet."""
    frame = pd.DataFrame({name: [1.0] * rows for name in cfg.data.columns})
    frame = frame.assign(request_id=request_id, row=range(rows), captured_at=at, model_version="3", prediction=0)
    Sink(cfg).write_frame("requests", frame, f"date={at:%Y-%m-%d}")


def test_window_runs_from_the_last_check_and_at_most_window_hours_back(cfg):
    end = NOW - timedelta(seconds=2 * 10 + 5)  # rows written within 2 x flush_seconds + 5 s: next window
    assert bounds(cfg, None, NOW) == (end - timedelta(hours=168), end)
    last = NOW - timedelta(hours=5)
    assert bounds(cfg, last, NOW) == (last, end)
    assert bounds(cfg, NOW - timedelta(days=30), NOW)[0] == end - timedelta(hours=168)


def test_captured_rows_are_read_across_day_partitions_and_cut_to_the_window(cfg):
    capture(cfg, "old", NOW - timedelta(days=9))
    capture(cfg, "monday", NOW - timedelta(days=1, hours=3))
    capture(cfg, "today", NOW - timedelta(minutes=1))
    capture(cfg, "in flight", NOW - timedelta(seconds=5))
    window = load(cfg, *bounds(cfg, None, NOW))
    assert sorted(set(window.rows["request_id"])) == ["monday", "today"]
    assert window.labelled.empty


def test_no_sink_yet_is_an_empty_window(cfg):
    window = load(cfg, *bounds(cfg, None, NOW))
    assert window.rows.empty and window.labelled.empty


def test_feedback_joins_labels_by_request_id_and_row_the_latest_wins(cfg, tmp_path):
    capture(cfg, "a1", NOW - timedelta(hours=1))
    capture(cfg, "b2", NOW - timedelta(hours=1))
    first = tmp_path / "labels.csv"
    first.write_text("request_id,row,malignant\na1,0,1\na1,1,0\nnobody,0,1\n")
    assert feedback.record(cfg, first)[0] == 3
    later = tmp_path / "fix.csv"
    later.write_text("request_id,malignant\na1,0\n")  # row defaults to 0
    feedback.record(cfg, later)
    labelled = load(cfg, NOW - timedelta(hours=2), NOW).labelled
    joined = labelled[["request_id", "row", "malignant"]].itertuples(index=False, name=None)
    assert sorted(joined) == [("a1", 0, 0), ("a1", 1, 0)]


def test_feedback_ids_stay_text(cfg, tmp_path):
    capture(cfg, "0123", NOW - timedelta(hours=1), rows=1)
    path = tmp_path / "labels.csv"
    path.write_text("request_id,malignant\n0123,1\n")
    feedback.record(cfg, path)
    assert list(load(cfg, NOW - timedelta(hours=2), NOW).labelled["request_id"]) == ["0123"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,malignant\nx,1\n", r"lacks column\(s\) \['request_id'\]"),
        ("request_id,label\nx,1\n", r"lacks column\(s\) \['malignant'\]"),
        ("request_id,malignant\nx,7\n", r"'malignant' has values \[7\] outside data.target.values"),
        ("request_id,row,malignant\nx,-1,1\n", r"column 'row' must hold row indexes"),
        ("request_id,malignant\nx,\n", r"request_id and .malignant. may not be empty"),
    ],
)
def test_bad_feedback_names_the_file_and_writes_nothing(cfg, tmp_path, text, message):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=rf"^{path}: {message}"):
        feedback.record(cfg, path)
    assert Sink(cfg).files("feedback", "*") == []


def test_metric_drop_below_min_metric_or_the_training_figure_is_a_violation(cfg):
    assert checks.metric_reasons(cfg, 0.99, 0.99) == []
    assert checks.metric_reasons(cfg, None, 0.99) == []  # too few labels: no verdict
    assert checks.metric_reasons(cfg, 0.96, 1.0) == []  # above min 0.95, and 4% down is within 5%
    (drop,) = checks.metric_reasons(cfg, 0.96, 1.02)  # above min 0.95, but 5.9% down
    assert "over 5% worse than at training (1.0200)" in drop
    reasons = checks.metric_reasons(cfg, 0.6, 0.99)
    assert "below min_metric 0.95" in reasons[0] and "worse than at training (0.9900)" in reasons[1]


def test_metric_drop_for_an_error_metric(mixed_config):
    reasons = checks.metric_reasons(mixed_config, 130.0, 20.0)  # rmse: higher is worse
    assert "above min_metric 100.0" in reasons[0] and "worse than at training" in reasons[1]
    assert checks.metric_reasons(mixed_config, 20.9, 20.0) == []  # 4.5% worse


def make_check(violated: bool, end: datetime = NOW) -> checks.Check:
    reasons = ["data drift in 12 of 30 columns"] if violated else []
    return checks.Check(NOW.isoformat(), end.isoformat(), 100, 0, violated, 0.4, "roc_auc", None, 0.99, reasons)


@pytest.mark.parametrize(
    ("violations", "windows", "earlier", "now", "retrain"),
    [
        (1, 1, [], True, True),
        (1, 1, [True, True], False, False),
        (2, 3, [], True, False),  # one noisy window is not enough
        (2, 3, [False, True], True, True),
        (2, 3, [True, False, False], True, False),  # the oldest fell out of the last 3
        (3, 3, [True, True], True, True),
    ],
)
def test_flap_guard_needs_n_of_the_last_m_windows(raw_config, violations, windows, earlier, now, retrain):
    raw_config["monitoring"]["trigger"] = {"violations": violations, "windows": windows}
    cfg = Config.model_validate(raw_config)
    verdict, line = checks.retrain(cfg, [make_check(v) for v in earlier], make_check(now))
    assert verdict is retrain
    assert f"retrains at {violations} of {windows}" in line


def test_checks_are_recorded_in_the_sink_and_give_the_next_window_its_start(cfg):
    sink = Sink(cfg)
    assert checks.last_end(sink) is None
    for hours in (30, 20, 10):
        checks.record(sink, make_check(hours == 20, NOW - timedelta(hours=hours)))
    assert checks.last_end(sink) == NOW - timedelta(hours=10)
    assert [c.violated for c in checks.history(sink, 3)] == [False, True, False]
    assert [c.end for c in checks.history(sink, 2)] == [(NOW - timedelta(hours=h)).isoformat() for h in (20, 10)]


def test_the_champion_metric_needs_min_rows_labels_of_both_classes(cfg):
    model = SimpleNamespace()  # never called when there is nothing to score
    one_class = pd.DataFrame({**{name: [1.0] * 5 for name in cfg.data.columns}, "malignant": [1] * 5})
    assert checks.champion_metric(cfg, model, one_class) is None
    assert checks.champion_metric(cfg, model, one_class.head(1)) is None


def test_stamps_sort_by_time():
    early, late = stamp(NOW), stamp(NOW + timedelta(microseconds=1))
    assert early < late and len({stamp(NOW) for _ in range(50)}) == 50
