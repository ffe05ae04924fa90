"""What every deploy target implements: the small protocol the canary controller drives.

Like Flagger's router + metrics provider, or Argo's traffic reconciler: a target only moves traffic
and reports what it saw; the controller (controller.py) owns every decision. Every method is
idempotent (calling it twice leaves the same state) and blocks until the platform reports the
change done, so the controller can run it again after an interruption.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable

from ..errors import MlopsError


class TargetError(MlopsError):
    """The platform refused or failed a change; str() names the target, the call and the reason."""


@dataclass(frozen=True)
class Release:
    """One servable model: the bento tag, and the registry version it carries (when known)."""

    bento: str
    version: str | None = None


@dataclass(frozen=True)
class State:
    """What runs on the target now (describe()). `candidate` is None outside a rollout."""

    stable: Release | None = None
    candidate: Release | None = None
    candidate_percent: int = 0  # the candidate's share of live traffic
    mirror_percent: int = 0  # share of live requests copied to the candidate (answers discarded)
    url: str | None = None  # where clients call the model
    details: dict = field(default_factory=dict)  # platform specifics for `mlops status`

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Window:
    """One side's traffic over one observation window."""

    requests: int = 0
    errors: int = 0  # 5xx answers
    p95_ms: float | None = None  # None: no requests, or the platform has no latency yet
    # The latency histogram behind p95_ms, (upper bound in s, cumulative count), when the platform has
    # one (Prometheus): windows then merge exactly instead of keeping the worse p95.
    latency: tuple[tuple[float, float], ...] = ()

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class Observation:
    """What the target saw since the previous observe() call (or since the candidate started)."""

    stable: Window = Window()
    candidate: Window = Window()
    agreed: int = 0  # mirrored requests whose candidate prediction equals stable's
    compared: int = 0  # mirrored requests with both predictions


@runtime_checkable
class Target(Protocol):
    """One platform (local HAProxy, SageMaker, Vertex AI, Azure ML, KServe). A new one = one module."""

    name: str

    def describe(self) -> State:
        """What is deployed, read from the platform itself (never from a cache of this process)."""

    def deploy_candidate(self, release: Release) -> None:
        """Start `release` beside stable with 0 % of live traffic (or as the only model when there is
        no stable yet, still at 0 % until set_traffic). Blocks until it answers requests."""

    def set_traffic(self, percent: int) -> None:
        """Send `percent` of live traffic to the candidate, the rest to stable; verify it took."""

    def set_mirror(self, percent: int) -> None:
        """Copy `percent` of live requests to the candidate (shadow); 0 stops mirroring.
        A target without mirroring raises TargetError."""

    def observe(self) -> Observation:
        """Requests, 5xx, p95 per side and mirrored prediction pairs since the previous call."""

    def predict(self, rows: list[dict], side: str = "candidate") -> list:
        """Send `rows` to one side directly ("stable" or "candidate"), bypassing the traffic split;
        used for the first-deploy smoke test and for replayed agreement checks."""

    def promote(self) -> None:
        """The candidate becomes stable with 100 % of traffic; the old stable is removed."""

    def rollback(self) -> None:
        """All traffic to stable, now; the candidate removed. A no-op without a candidate."""

    def undeploy(self) -> None:
        """Remove everything this target created (no billable resource left)."""
