"""What marks a served request, for the service and for whoever sends it: its id, the controller's own
traffic, and the capture override of one server. Standard library only: the deploy targets and
`bentoml serve`'s parent process import this, not the Parquet writer of capture.py."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

REQUEST_ID_HEADER = "X-Request-ID"
# Traffic the deploy controller makes itself (replayed reference rows, shadow copies for the
# candidate): answered like any request, never captured, so CT's window holds only clients' requests.
SYNTHETIC_HEADER = "X-Mlops-Synthetic"
# SageMaker forwards to the container only CustomAttributes, as this header (ops/deploy/sagemaker.py).
SAGEMAKER_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
SAMPLE_ENV = "MLOPS_CAPTURE_SAMPLE"  # overrides monitoring.capture.sample for one server


def synthetic(headers: Mapping[str, str]) -> bool:
    return bool(headers.get(SYNTHETIC_HEADER)) or SYNTHETIC_HEADER in headers.get(SAGEMAKER_ATTRIBUTES, "")


def request_id(headers: Mapping[str, str]) -> str:
    """The client's X-Request-ID (so it can send labels under its own id), else a new one."""
    return headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
