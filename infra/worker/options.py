"""A worker's options, declared once: the `zeb worker` command line is generated from them, a fleet
spec carries the `WorkerSettings` its workers share, and LocalFleet and a Vast instance's
arguments turn those settings back into a command line (`infra.model_args.model_args`)."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from infra.worker import DEFAULT_UPLOAD_INTERVAL_S
from zeb_core.data.shards import WORKER_ID_PATTERN
from zeb_core.search.config import DEFAULT_EXACT_TRICKS_LEFT, DEFAULT_INTERIOR, DEFAULT_ROOT

Role = Literal["selfplay", "evalaux"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkerSettings(_Strict):
    """How a worker plays: what a fleet sets for all its workers."""

    sims: int = Field(16, ge=1, description="MCTS simulations per decision")
    worlds: int | None = Field(
        2, ge=1, description="Sampled deals per decision (None: min(8, sims))"
    )
    games_in_flight: int = Field(
        32, ge=1, description="Games advanced together (one network call per wave)"
    )
    games_per_batch: int = Field(64, ge=1, description="Games played between weight checks")
    node_capacity: int = Field(512, ge=2, description="Nodes per search tree")
    root: Literal["puct", "gumbel"] = Field(
        DEFAULT_ROOT,
        description="Root search: PUCT with a visit-count target, or Gumbel with the "
        "improved-policy target",
    )
    interior: Literal["puct", "gumbel"] = Field(
        DEFAULT_INTERIOR, description="Selection below the root"
    )
    exact_tricks_left: int = Field(
        DEFAULT_EXACT_TRICKS_LEFT,
        ge=0,
        le=7,
        description="Solve leaves with at most this many tricks left (0: off)",
    )
    true_deal: bool = Field(
        False, description="Search the real deal (the original's design; it peeks at hands)"
    )
    belief_worlds: bool = Field(
        False,
        description="Tilt the sampled deals toward what the belief head has learned (a model "
        "with the constrained belief head; others sample uniformly)",
    )
    dirichlet_fraction: float = Field(
        0.25, ge=0, le=1, description="Share of the PUCT root prior replaced by Dirichlet noise"
    )
    temperature_plays: int = Field(
        8, ge=0, le=28, description="Plays of a hand that sample moves (then greedy)"
    )
    forced_move_shortcut: bool = Field(
        True, description="Play a single legal move without a search (and no example)"
    )
    value_root_mix: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Value target: this share the search's root value, the rest the game's outcome",
    )
    deal_mode: Literal["bid", "selfplay"] = Field(
        "bid", description="bid: a random bidder leads; selfplay: seat 0 leads (the original's)"
    )
    eq_worlds: int = Field(32, ge=1, description="Worlds the E[Q] player samples and solves")
    deals_per_batch: int = Field(8, ge=1, description="Deals per batch (each played twice)")
    upload_interval_s: float = Field(
        DEFAULT_UPLOAD_INTERVAL_S,
        ge=0,
        description="Seconds between uploads at most (one commit for what is spooled)",
    )
    upload_max_mb: float = Field(
        32.0, gt=0, description="Upload as soon as this many MB of examples wait"
    )
    weights_check_s: float | None = Field(
        None,
        ge=0,
        description="Seconds between looks for new weights, 0: before every batch (default: "
        "0 on a local hub; on Hugging Face, where each look spends a quota the fleet shares, "
        "60, or 1.5 per worker of the fleet when that is longer)",
    )
    fleet_size: int = Field(
        1,
        ge=1,
        description="Workers of the fleet this one belongs to (the fleet sets it): sizes the "
        "default weights check on Hugging Face",
    )
    device: str = Field("auto", description="auto (CUDA when present), cpu or cuda")


# The settings a role does not use (left off its command line).
UNUSED_BY_ROLE: dict[Role, frozenset[str]] = {
    "selfplay": frozenset({"eq_worlds", "deals_per_batch"}),
    "evalaux": frozenset(
        {
            "sims",
            "worlds",
            "games_in_flight",
            "games_per_batch",
            "node_capacity",
            "root",
            "interior",
            "exact_tricks_left",
            "true_deal",
            "belief_worlds",
            "dirichlet_fraction",
            "temperature_plays",
            "forced_move_shortcut",
            "deal_mode",
            "value_root_mix",
        }
    ),
}


class WorkerOptions(_Strict):
    experiment: str
    worker_id: str = Field(pattern=WORKER_ID_PATTERN)
    seed: int | None = Field(None, description="Seed (default: fresh entropy; workers must differ)")
    spool_dir: Path | None = Field(
        None, description="Folder for shards awaiting upload (default $ZEB_HOME/spool)"
    )
    max_batches: int | None = Field(
        None, ge=1, description="Stop after this many batches (default: run until stopped)"
    )
    retry_wait_s: float = Field(
        10.0, gt=0, description="Seconds between tries while the hub is unreachable"
    )
    play: WorkerSettings = WorkerSettings()


def default_worker_id(role: Role) -> str:
    """`<role>-<host>`: stable across restarts, so a restarted worker finds its own spool."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:40] or "host"
    return f"{role}-{host}"
