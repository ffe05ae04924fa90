"""Cron expressions as GitHub Actions' `on.schedule` accepts them (five fields, UTC).

Standard library only: the template's pre-generation hook imports this file too.
"""

import re

_FIELDS = (  # name, lowest, highest, names allowed instead of numbers
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day of week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_ITEM = re.compile(r"^(\*|(\w+)(?:-(\w+))?)(?:/(\d+))?$")


def _value(token: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    if token.upper() in names:
        return names.index(token.upper()) + low
    if token.isdigit() and low <= int(token) <= high:
        return int(token)
    return None


def _field_ok(text: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    for item in text.split(","):
        match = _ITEM.match(item)
        if not match:
            return False
        star, first, last, step = match.groups()
        if step is not None and int(step) == 0:
            return False
        if star == "*":
            continue
        start = _value(first, low, high, names)
        end = start if last is None else _value(last, low, high, names)
        if start is None or end is None or end < start:
            return False
    return True


def cron_error(expr: str) -> str | None:
    """Why `expr` is not a valid five-field cron expression, or None when it is."""
    parts = expr.split()
    if len(parts) != 5:
        return f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
    for text, (name, low, high, names) in zip(parts, _FIELDS, strict=True):
        if not _field_ok(text, low, high, names):
            return f"{name} field {text!r} is not *, a number in {low}-{high}, a range, a list or a step"
    return None
