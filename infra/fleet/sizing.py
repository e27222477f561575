"""How many workers a learner can use, and what the rest cost.

The learner stamps into each publish what it can train (`LearnerThroughput`: samples per hour of
training, and how many examples a game of each source gives). A fleet's games are *useful* up to

    capacity_samples_per_h * (the batch share of its source) / useful_reuse

examples per hour: beyond that the replay turns over before each example was trained
`useful_reuse` times, and more workers add hub load and cost, not learning. The useful fleet is
the fewest workers, best value ($ per game) first, that produce that rate; the others are the
surplus and their $/h is money spent for nothing. `target: auto` holds a fleet at the useful size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infra.experiment_state import Controls, ExperimentState, LearnerThroughput
from infra.fleet.base import LIVE_STATES, FleetSettings, WorkerRecord
from infra.worker.options import Role
from zeb_core.data.shards import EVAL_AUX, SELFPLAY

HOUR_S = 3600.0


@dataclass(frozen=True)
class FleetSizing:
    useful_games_per_s: float  # what the learner can use from this fleet
    produced_games_per_s: float  # what its workers report now
    workers: int  # producing now
    useful_workers: int  # enough to produce the useful rate (more than `workers`: too small)
    surplus_dph: float  # $/h of the producing workers beyond the useful ones
    surplus_games_per_s: float

    def lines(self) -> list[str]:
        line = (
            f"learner uses ~{self.useful_games_per_s:.1f} games/s of this fleet, it makes "
            f"{self.produced_games_per_s:.1f}: useful size {self.useful_workers} of "
            f"{self.workers} worker(s)"
        )
        if self.surplus_dph > 0 or self.surplus_games_per_s > 0:
            line += (
                f"; beyond it ${self.surplus_dph:.3f}/h buys "
                f"{self.surplus_games_per_s:.1f} games/s the learner cannot use"
            )
        elif self.useful_workers > self.workers:
            line += "; the learner could use more"
        return [line]


def role_share(role: Role, controls: Controls) -> float:
    """The share of each training batch that the role's examples fill."""
    eval_aux = controls.eval_aux_batch_fraction if controls.eval_aux_enabled else 0.0
    return eval_aux if role == "evalaux" else 1.0 - eval_aux


def useful_games_per_s(
    role: Role, throughput: LearnerThroughput, controls: Controls
) -> float | None:
    """Games per second of this role the learner can use; None before it has seen any."""
    per_game = throughput.examples_per_game(EVAL_AUX if role == "evalaux" else SELFPLAY)
    if per_game is None:
        return None
    examples_per_h = (
        throughput.capacity_samples_per_h * role_share(role, controls) / throughput.useful_reuse
    )
    return examples_per_h / per_game / HOUR_S


def size_fleet(
    role: Role, records: list[WorkerRecord], throughput: LearnerThroughput, controls: Controls
) -> FleetSizing | None:
    """The useful size of a fleet now; None while there is nothing to measure by."""
    useful = useful_games_per_s(role, throughput, controls)
    producing = [r for r in records if r.state in LIVE_STATES and r.games_per_s > 0]
    if useful is None or not producing:
        return None
    producing.sort(key=lambda r: (r.dph or 0.0) / r.games_per_s)  # best value first
    produced = sum(r.games_per_s for r in producing)
    if produced < useful:  # too small: how many workers of today's mean rate would do
        count = math.ceil(useful / (produced / len(producing)))
        return FleetSizing(useful, produced, len(producing), count, 0.0, 0.0)
    covered, count = 0.0, 0
    while covered < useful:
        covered += producing[count].games_per_s
        count += 1
    rest = producing[max(count, 1) :]
    return FleetSizing(
        useful_games_per_s=useful,
        produced_games_per_s=produced,
        workers=len(producing),
        useful_workers=max(count, 1),
        surplus_dph=sum(r.dph or 0.0 for r in rest),
        surplus_games_per_s=sum(r.games_per_s for r in rest),
    )


def fleet_sizing(
    role: Role, records: list[WorkerRecord], state: ExperimentState | None
) -> FleetSizing | None:
    """`size_fleet` by the experiment's state (None without the learner's figures)."""
    if state is None or state.throughput is None:
        return None
    return size_fleet(role, records, state.throughput, state.controls)


def resolve_target(settings: FleetSettings, sizing: FleetSizing | None, live: int) -> int:
    """The number of workers a pass holds: the fixed target, or for `auto` the useful size
    (1 to auto_max), shrinking one worker per pass so a passing dip stops little."""
    if settings.target != "auto":
        return settings.target
    if sizing is None:  # the learner has not measured yet: hold what runs
        return min(max(live, 1), settings.auto_max)
    wanted = min(max(sizing.useful_workers, 1), settings.auto_max)
    return max(wanted, min(live - 1, settings.auto_max)) if wanted < live else wanted
