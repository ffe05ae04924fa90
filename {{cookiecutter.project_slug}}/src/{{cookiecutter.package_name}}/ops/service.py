"""The BentoML service: typed requests (from mlops.yaml) in, predictions of the registered model out.

BentoML answers /livez, /readyz and /metrics itself; invalid requests get a 400 naming the field.
"""

from __future__ import annotations

from typing import Annotated

import bentoml
from pydantic import Field

from .config import load_config
from .schema import row_model, to_frame

CONFIG = load_config()
Row = row_model(CONFIG)
Rows = Annotated[list[Row], Field(min_length=1, max_length=CONFIG.serving.max_batch_size)]
# Latency buckets fine enough for canary gates (BentoML's default ones are coarse).
_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0]


@bentoml.service(
    name=CONFIG.project.model_name,
    threads=4,
    traffic={"timeout": 30},
    metrics={"enabled": True, "duration": {"buckets": _BUCKETS}},
)
class Model:
    bento_model = bentoml.models.BentoModel(f"{CONFIG.project.model_name}:latest")

    def __init__(self) -> None:
        self.model = bentoml.mlflow.load_model(self.bento_model)

    @bentoml.api
    def predict(self, rows: Rows) -> dict:
        predictions = self.model.predict(to_frame(CONFIG, rows))
        return {"predictions": predictions.tolist(), "model": str(self.bento_model.tag)}
