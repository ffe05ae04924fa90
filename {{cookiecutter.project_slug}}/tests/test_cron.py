import pytest

from {{ cookiecutter.package_name }}.ops.cron import cron_error


@pytest.mark.parametrize("expr", ["0 6 * * 1", "*/15 * * * *", "0 0 1,15 * MON-FRI", "30 2 * JAN-MAR 0", "5 4 * * SUN"])
def test_valid(expr):
    assert cron_error(expr) is None


@pytest.mark.parametrize(
    ("expr", "field"),
    [
        ("0 6 * *", "expected 5 fields"),
        ("60 * * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 0 0 * *", "day of month"),
        ("0 0 * 13 *", "month"),
        ("0 0 * * 7-1", "day of week"),
        ("*/0 * * * *", "minute"),
    ],
)
def test_invalid_names_the_field(expr, field):
    assert field in cron_error(expr)
