import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.ops.config import CONFIG_FILE, Config


@pytest.fixture
def raw_config() -> dict:
    """mlops.yaml as plain data, for tests that break it on purpose."""
    return yaml.safe_load(CONFIG_FILE.read_text())


@pytest.fixture
def config(raw_config) -> Config:
    return Config.model_validate(raw_config)


@pytest.fixture
def mixed_config(raw_config) -> Config:
    """A user's own data: numeric and categorical columns, missing values, a regression target."""
    raw = copy.deepcopy(raw_config)
    raw["data"].update(
        source="unused.csv",
        target={"column": "price", "task": "regression"},
        columns={
            "area": {"type": "numeric", "min": 0},
            "rooms": {"type": "numeric", "min": 1, "max": 20},
            "city": {"type": "categorical", "values": ["berlin", "paris", "rome"]},
            "heating": {"type": "categorical"},
        },
    )
    raw["validation"]["max_missing_share"] = 0.2
    raw["training"].update(params={"alpha": 1.0}, metric="rmse", min_metric=100.0)
    return Config.model_validate(raw)


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "area": rng.uniform(20, 200, n),
            "rooms": rng.integers(1, 8, n).astype(float),
            "city": rng.choice(["berlin", "paris", "rome"], n),
            "heating": rng.choice(["gas", "heat pump", "oil"], n),
        }
    )
    frame["price"] = 3 * frame["area"] + 10 * frame["rooms"] + frame["city"].map({"berlin": 0, "paris": 50, "rome": 20})
    frame.loc[::10, "area"] = np.nan  # 10% missing: imputed
    frame.loc[::15, "heating"] = None
    return frame
