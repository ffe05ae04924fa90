"""The local target's window math: /metrics parsing, deltas between scrapes, restarts, p95."""

import pytest

from {{ cookiecutter.package_name }}.ops.deploy.local import (
    Counters,
    counters_delta,
    histogram_quantile,
    mirror_delta,
    parse_metrics,
    parse_mirror,
    window,
)
from {{ cookiecutter.package_name }}.ops.deploy.target import TargetError

INF = float("inf")
SERVICE = {"runner_name": "m", "service_name": "m", "service_version": "v1"}


def line(name: str, value: float, **labels: str) -> str:
    inner = ",".join(f'{key}="{text}"' for key, text in (labels | SERVICE).items())
    return name + "{" + inner + "} " + str(value)


def scrape(predict: dict[str, int], buckets: dict[str, int], readyz: int = 7) -> str:
    """BentoML's /metrics text: /predict counts per response code, one histogram (under code 200)."""
    total, histogram = "bentoml_service_request_total", "bentoml_service_request_duration_seconds_bucket"
    lines = [f"# TYPE {total} counter"]
    lines += [line(total, count, endpoint="/predict", http_response_code=code) for code, count in predict.items()]
    lines.append(line(total, readyz, endpoint="/readyz", http_response_code="200"))
    lines.append(f"# TYPE {histogram[:-7]} histogram")
    lines += [line(histogram, n, endpoint="/predict", http_response_code="200", le=le) for le, n in buckets.items()]
    lines.append(line(histogram, readyz, endpoint="/readyz", http_response_code="200", le="+Inf"))
    return "\n".join(lines) + "\n"


def test_parse_counts_predict_only_and_5xx_as_errors():
    text = scrape({"200": 90, "400": 4, "500": 5, "503": 1}, {"0.01": 60, "0.1": 95, "+Inf": 100})
    assert parse_metrics(text) == Counters(100, 6, ((0.01, 60), (0.1, 95), (INF, 100)))


def test_parse_of_a_fresh_server_is_empty():
    assert parse_metrics(scrape({}, {})) == Counters()


def test_delta_between_two_scrapes():
    before = Counters(100, 6, ((0.01, 60), (0.1, 95), (INF, 100)))
    after = Counters(150, 7, ((0.01, 100), (0.1, 145), (INF, 150)))
    assert counters_delta(before, after) == Counters(50, 1, ((0.01, 40), (0.1, 50), (INF, 50)))


def test_first_window_is_everything_so_far():
    current = Counters(5, 0, ((0.01, 5), (INF, 5)))
    assert counters_delta(None, current) == current


@pytest.mark.parametrize(
    "after",
    [
        Counters(3, 0, ((0.01, 3), (INF, 3))),  # fewer requests
        Counters(120, 0, ((0.01, 120), (INF, 120))),  # more requests, but the errors fell back to 0
        Counters(120, 6, ((0.01, 10), (INF, 120))),  # a bucket fell
    ],
)
def test_a_counter_that_falls_means_a_restart_and_the_window_is_all_of_the_new_counts(after):
    before = Counters(100, 6, ((0.01, 60), (INF, 100)))
    assert counters_delta(before, after) == after


def test_p95_interpolates_inside_the_bucket_like_prometheus():
    # 100 requests: 50 under 10 ms, 40 in (10, 20] ms, 10 in (20, 50] ms; rank 95 is the 5th of the last 10.
    buckets = ((0.01, 50), (0.02, 90), (0.05, 100), (INF, 100))
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.035)
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01)


def test_p95_in_the_first_bucket_starts_from_zero():
    assert histogram_quantile(0.95, ((0.01, 100), (INF, 100))) == pytest.approx(0.0095)


def test_p95_beyond_the_last_bound_is_that_bound():
    assert histogram_quantile(0.95, ((0.5, 10), (1.0, 20), (INF, 100))) == 1.0


def test_no_requests_no_p95():
    assert histogram_quantile(0.95, ()) is None
    assert histogram_quantile(0.95, ((0.01, 0), (INF, 0))) is None
    assert window(Counters()).p95_ms is None


def test_window_in_milliseconds_with_error_rate():
    got = window(Counters(200, 10, ((0.1, 180), (0.2, 200), (INF, 200))))
    assert (got.requests, got.errors, got.error_rate) == (200, 10, 0.05)
    assert got.p95_ms == pytest.approx(150.0)


def test_mirror_delta_and_haproxy_restart():
    assert mirror_delta(None, (3, 4)) == (3, 4)
    assert mirror_delta((3, 4), (10, 12)) == (7, 8)
    assert mirror_delta((10, 12), (1, 1)) == (1, 1)


def test_parse_mirror_show():
    assert parse_mirror("percent=10 queued=5 agreed=4 compared=5\n") == {
        "percent": 10,
        "queued": 5,
        "agreed": 4,
        "compared": 5,
    }
    with pytest.raises(TargetError, match="mirror show"):
        parse_mirror("Unknown command: 'mirror'")
