"""The BentoML service: typed requests (from mlops.yaml) in, predictions of the registered model out.

The model is the stored one the bento argument `model` names: `mlops build` records it in the bento
(a bento always serves the model it was built with), `mlops serve` / `mlops smoke` pass it for the
project's code; both resolve it from the registry (an alias or a version), never `<name>:latest`.
Every answer carries a request id (the client's X-Request-ID, else a new one), in the body and the
X-Request-ID header; sampled requests are captured for monitoring (monitoring/capture.py).

POST /predict is a route of a FastAPI app mounted in the service (edge.py: strict JSON only, a body
limit, every answer declared in /docs.json): BentoML's own API path parses any content type and
logs each 400 with a traceback, and measured slower (bench/serving.py). BentoML still runs the
process: /livez, /readyz, /metrics (per-endpoint, read by the canary), lifecycle hooks, bentos.
"""

from __future__ import annotations

import bentoml
from fastapi import Request
from fastapi.responses import JSONResponse

from ..config import load_config
from ..errors import MlopsError
from ..monitoring.headers import REQUEST_ID_HEADER, request_id, synthetic
from .edge import Predictor, edge_app, predict_route
from .schema import request_model, to_frame

CONFIG = load_config()
Body = request_model(CONFIG)
app = edge_app(CONFIG, CONFIG.project.model_name)
# Latency buckets fine enough for canary gates (BentoML's default ones are coarse).
_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0]
MODEL_ARG = "model"  # as ops/serving/bento.py sets it


def served_model() -> str:
    """The model tag of the bento argument; an error outside a bento built by `mlops build`."""
    tag = getattr(bentoml.use_arguments(), MODEL_ARG, None) or ""
    if tag.partition(":")[2] in ("", "latest"):  # no version: BentoML would take the newest one
        raise MlopsError(
            f"no registered model to serve (bento argument {MODEL_ARG}={tag!r}): serve through `mlops serve` "
            f"or `mlops build` (they resolve the registry alias), or pass `--arg {MODEL_ARG}=<name>:<version>` "
            "with a model of the BentoML store"
        )
    return tag


@bentoml.service(
    name=CONFIG.project.model_name,
    workers=1,
    traffic={"timeout": 30},
    metrics={"enabled": True, "duration": {"buckets": _BUCKETS}},
)
@bentoml.asgi_app(app, path="/")
class Model:
    bento_model = bentoml.models.BentoModel(served_model())

    def __init__(self) -> None:
        # The Parquet writer (pyarrow, pandas) is the worker's import: `bentoml serve` first imports this
        # module in its parent process only to read the service's settings, before any worker starts.
        from ..monitoring.capture import capture_writer

        self.model = Predictor(bentoml.mlflow.load_model(self.bento_model))
        self.tag = str(self.bento_model.tag)
        self.capture = capture_writer(CONFIG, self.bento_model.info.labels.get("registry_version", ""))

    @app.post("/predict", **predict_route(Body))
    async def predict(self, http: Request) -> JSONResponse:
        rows = Body.model_validate_json(await http.body()).rows
        request = request_id(http.headers)
        predictions = self.model.predict(to_frame(CONFIG, rows))
        answer = predictions.tolist()
        if self.capture is not None and not synthetic(http.headers):
            self.capture.record(request, rows, answer)
        body = {"predictions": answer, "model": self.tag, "request_id": request}
        return JSONResponse(body, headers={REQUEST_ID_HEADER: request})

    # SageMaker's container contract (deploy.target aws: ops/deploy/sagemaker.py): it health-checks
    # GET /ping and sends every request to POST /invocations, the same body as /predict.
    @app.post("/invocations", **predict_route(Body))
    async def invocations(self, http: Request) -> JSONResponse:
        return await self.predict(http)

    @app.get("/ping")
    async def ping(self) -> JSONResponse:
        return JSONResponse({"status": "ready", "model": self.tag})  # this worker has loaded it

    @bentoml.on_shutdown
    def flush_capture(self) -> None:
        if self.capture is not None:
            self.capture.close()
