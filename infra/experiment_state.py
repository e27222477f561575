"""The data contract of `EXP-state.json`: learner progress, lineage and live controls.

`infra.experiment` reads and writes the file on the hub; this module only says what it holds. A file
that does not match is rejected whole (`StateError`), never half-read; zeb-state-1 and -2 files
still read as zeb-state-3 files without the fields added since.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from infra.hub.base import HubError

# 2 added published_at and control_history, 3 throughput; 1 and 2 still read
STATE_FORMAT = "zeb-state-3"
CONTROL_HISTORY = 20  # control changes kept in the state (newest last)


class StateError(HubError):
    """`EXP-state.json` on the hub does not match the schema (rejected, never half-read)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Controls(_Strict):
    """Live training controls: the learner re-reads them every cycle; rollback edits them.

    Defaults are the original's stage-0 flags (eval-aux off); `stage1()` turns eval-aux on.
    """

    eval_aux_enabled: bool = False
    eval_aux_batch_fraction: float = Field(0.0, ge=0.0, le=1.0)  # share of each batch
    eval_aux_policy_weight: float = Field(0.0, ge=0.0)  # eval-aux trains value and belief only
    eval_aux_value_weight: float = Field(1.0, ge=0.0)
    eval_aux_belief_weight: float = Field(0.5, ge=0.0)
    eval_aux_max_model_lag: int = Field(400, ge=0)  # drop shards older than this many cycles
    eval_aux_lag_half_life: float = Field(
        200.0, gt=0.0
    )  # keep weight halves every this many cycles
    eval_aux_min_keep_weight: float = Field(0.10, ge=0.0, le=1.0)  # floor of that weight

    @classmethod
    def stage1(cls) -> Controls:
        return cls(eval_aux_enabled=True, eval_aux_batch_fraction=0.05)


class Origin(_Strict):
    """What the experiment was created from."""

    checkpoint: str  # the bootstrap checkpoint as given (a path or a name)
    sha256: str  # of its bytes, so the exact file can be recognised later
    source_weights_name: str | None = None  # set when warm-started from another namespace
    epoch: int = Field(0, ge=0)
    total_games: int = Field(0, ge=0)


class ControlChange(_Strict):
    """Who changed the live controls, when, and to what (rollback, a learn stage, a flag)."""

    at: datetime
    by: str  # "rollback", "learn stage 1", "learner flags", ...
    eval_aux_enabled: bool
    eval_aux_batch_fraction: float


class LearnerThroughput(_Strict):
    """What the learner consumed and took in over its recent window, stamped into each publish
    so fleets can size themselves to it (`infra.fleet.sizing`)."""

    measured_at: datetime
    window_s: float = Field(ge=0)  # wall seconds the figures cover
    capacity_samples_per_h: float = Field(ge=0)  # samples trained per hour spent training
    trained_samples_per_h: float = Field(ge=0)  # samples trained per wall hour (waits included)
    ingested_examples_per_h: dict[str, float] = Field(default_factory=dict)  # per source
    ingested_games_per_h: dict[str, float] = Field(default_factory=dict)  # per source
    useful_reuse: float = Field(gt=0)  # samples per example at which production is all used

    def examples_per_game(self, source: str) -> float | None:
        games = self.ingested_games_per_h.get(source, 0.0)
        return self.ingested_examples_per_h.get(source, 0.0) / games if games > 0 else None


class ExperimentState(_Strict):
    """`EXP-state.json`: learner progress, lineage and live controls."""

    format: Literal["zeb-state-3"] = STATE_FORMAT
    experiment: str
    cycle: int = Field(0, ge=0)  # learner cycles completed
    step: int = Field(0, ge=0)  # training steps taken in total
    total_games: int = Field(0, ge=0)  # self-play games that produced examples, all time
    wandb_run_id: str | None = None
    wandb_project: str | None = None
    created_from: Origin
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    published_at: datetime | None = None  # when the learner last published weights
    controls: Controls = Controls()
    control_history: list[ControlChange] = Field(default_factory=list)
    throughput: LearnerThroughput | None = None  # what the learner consumes (fleet sizing)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Older formats are this one without the fields added since."""
        if isinstance(data, dict) and data.get("format") in ("zeb-state-1", "zeb-state-2"):
            return {**data, "format": STATE_FORMAT}
        return data

    def with_controls(self, controls: Controls, by: str) -> ExperimentState:
        change = ControlChange(
            at=datetime.now(UTC),
            by=by,
            eval_aux_enabled=controls.eval_aux_enabled,
            eval_aux_batch_fraction=controls.eval_aux_batch_fraction,
        )
        history = [*self.control_history, change][-CONTROL_HISTORY:]
        return self.model_copy(update={"controls": controls, "control_history": history})

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> ExperimentState:
        try:
            return cls.model_validate_json(data)
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(root)"
            raise StateError(
                f"{where} is not a valid {STATE_FORMAT}: {loc}: {first['msg']}"
            ) from None
