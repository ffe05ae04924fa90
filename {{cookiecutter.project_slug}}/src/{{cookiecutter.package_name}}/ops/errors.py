"""One base class for the errors the CLI reports as a single clear message (no traceback)."""


class MlopsError(Exception):
    """str() names the file or config field at fault and what was expected."""
