"""Player specs `KIND[:PATH][,KEY=VALUE...]` (for example `greedy:ckpt.pt`, `mcts:ckpt.pt,sims=50`,
`eq:n=32`) and the builder of each kind.

Each builder imports its player when it is called, so that `zeb eval random vs heuristic` does
not import torch or numba for players it does not use. The players themselves know nothing of
specs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from zeb_core.game.players import Player

if TYPE_CHECKING:
    from zeb_core.search.config import MCTSConfig


class PlayerSpecError(ValueError):
    """A player spec that cannot be parsed or built."""


@dataclass(frozen=True)
class PlayerSpec:
    kind: str
    path: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        head = self.kind if self.path is None else f"{self.kind}:{self.path}"
        return ",".join([head] + [f"{k}={v}" for k, v in self.options.items()])

    def int_option(self, key: str, default: int, minimum: int = 1) -> int:
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise PlayerSpecError(f"{self}: option {key}={raw!r} must be an integer") from None
        if value < minimum:
            raise PlayerSpecError(f"{self}: option {key} must be at least {minimum}")
        return value

    def float_option(self, key: str, default: float) -> float:
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise PlayerSpecError(f"{self}: option {key}={raw!r} must be a number") from None

    def check_options(self, allowed: set[str]) -> None:
        unknown = sorted(set(self.options) - allowed)
        if unknown:
            known = ", ".join(sorted(allowed)) or "none"
            raise PlayerSpecError(
                f"{self}: unknown option(s) {', '.join(unknown)} (known: {known})"
            )

    def require_path(self) -> str:
        if not self.path:
            raise PlayerSpecError(f"player {self.kind!r} needs a checkpoint: {self.kind}:PATH")
        return self.path


def parse_player_spec(text: str) -> PlayerSpec:
    parts = [p.strip() for p in text.strip().split(",")]
    head, option_parts = parts[0], parts[1:]
    kind, _, path = head.partition(":")
    kind = kind.strip().lower()
    if "=" in path:  # `eq:n=32`: a player without a checkpoint takes its options after the colon
        option_parts.insert(0, path)
        path = ""
    if kind not in PLAYER_BUILDERS:
        known = ", ".join(sorted(PLAYER_BUILDERS))
        raise PlayerSpecError(f"unknown player kind {kind!r} in {text!r} (known: {known})")
    options: dict[str, str] = {}
    for part in option_parts:
        key, eq, value = part.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise PlayerSpecError(f"bad option {part!r} in {text!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    return PlayerSpec(kind=kind, path=path.strip() or None, options=options)


def build_player(spec: str | PlayerSpec, device: str = "auto") -> Player:
    parsed = parse_player_spec(spec) if isinstance(spec, str) else spec
    return PLAYER_BUILDERS[parsed.kind](parsed, device)


MCTS_SIMULATIONS = 50  # the mcts: spec's default: the strength benchmark's setting
SIMULATIONS_PER_WORLD = 25  # default worlds: one per 25 simulations, 1 to MAX_DEFAULT_WORLDS
MAX_DEFAULT_WORLDS = 4
MCTS_OPTIONS = set("sims worlds c root interior k exact cvisit cscale rescale belief".split())


def build_random(spec: PlayerSpec, device: str) -> Player:
    from zeb_core.game.players import RandomPlayer

    spec.check_options(set())
    return RandomPlayer()


def build_heuristic(spec: PlayerSpec, device: str) -> Player:
    from zeb_core.game.players import HeuristicPlayer

    spec.check_options(set())
    return HeuristicPlayer()


def build_eq_player(spec: PlayerSpec, device: str) -> Player:
    """`eq:n=N[,mode=mean|win][,threads=T]` or `eq[,n=N]...` (the device is unused: the solver
    runs on the CPU, on all of numba's threads unless `threads` caps them)."""
    from zeb_core.oracle.eq_player import DEFAULT_MODE, DEFAULT_WORLDS, MODES, EQPlayer

    if spec.path is not None:
        raise PlayerSpecError(f"{spec}: eq takes options (eq:n=32), not a checkpoint")
    spec.check_options({"n", "mode", "threads"})
    mode = spec.options.get("mode", DEFAULT_MODE)
    if mode not in MODES:
        raise PlayerSpecError(f"{spec}: option mode must be one of {', '.join(MODES)}")
    threads = spec.int_option("threads", 1) if "threads" in spec.options else None
    n_worlds = spec.int_option("n", DEFAULT_WORLDS)
    return EQPlayer(n_worlds=n_worlds, mode=mode, threads=threads)  # type: ignore[arg-type]


def build_greedy(spec: PlayerSpec, device: str) -> Player:
    """`greedy:PATH`: the policy's best legal slot."""
    from zeb_core.evaluation.model_players import GreedyPlayer
    from zeb_core.network.evaluator import load_evaluator

    spec.check_options(set())
    return GreedyPlayer(load_evaluator(spec.require_path(), device), name=str(spec))


def build_mcts_player(spec: PlayerSpec, device: str) -> Player:
    """`mcts:PATH[,sims=N][,worlds=W][,c=C][,root=R][,interior=R][,k=K][,exact=T][,cvisit=X]
    [,cscale=X][,rescale=0|1][,belief=0|1]`, for example
    `mcts:zeb-e2839.pt,sims=50,root=gumbel,exact=6`.

    Defaults: 50 simulations, one world per 25 simulations (at most 4), PUCT with c_puct 1.5 at
    the root and below, no exact values. R is `puct` or `gumbel`; k, cvisit, cscale and rescale
    are the Gumbel settings (`gumbel.GumbelConfig`); exact=T solves leaves with at most T tricks
    to play (and, with root=gumbel, every play of a root within reach); belief=1 tilts the
    sampled deals by the model's constrained belief head (`MCTSConfig.belief_worlds`). Against
    greedy zeb-e2839 over 2000 games: the default 51.8%, `root=gumbel,exact=6` 57.3%,
    `root=gumbel,exact=7` 58.1% (bench/mcts_strength.py).
    """
    from zeb_core.evaluation.mcts_player import MCTSPlayer
    from zeb_core.network.evaluator import load_evaluator  # torch only when a model player is built

    spec.check_options(MCTS_OPTIONS)
    try:
        config = config_from_spec(spec)
    except ValueError as exc:
        raise PlayerSpecError(f"{spec}: {exc}") from None
    return MCTSPlayer(load_evaluator(spec.require_path(), device), config, name=str(spec))


def config_from_spec(spec: PlayerSpec) -> MCTSConfig:
    """The search settings a spec names (defaults for the rest)."""
    from zeb_core.search.config import (
        DEFAULT_EXACT_TRICKS_LEFT,
        DEFAULT_INTERIOR,
        DEFAULT_ROOT,
        MCTSConfig,
    )
    from zeb_core.search.gumbel import GumbelConfig

    sims = spec.int_option("sims", MCTS_SIMULATIONS)
    default_worlds = min(max(sims // SIMULATIONS_PER_WORLD, 1), MAX_DEFAULT_WORLDS)
    base = GumbelConfig()
    gumbel = GumbelConfig(
        considered_actions=spec.int_option("k", base.considered_actions),
        c_visit=spec.float_option("cvisit", base.c_visit),
        c_scale=spec.float_option("cscale", base.c_scale),
        rescale_q=spec.int_option("rescale", int(base.rescale_q), minimum=0) > 0,
    )
    return replace(
        MCTSConfig(),
        simulations=sims,
        worlds=spec.int_option("worlds", default_worlds),
        c_puct=spec.float_option("c", MCTSConfig.c_puct),
        root=spec.options.get("root", DEFAULT_ROOT),  # type: ignore[arg-type]  # config checks it
        interior=spec.options.get("interior", DEFAULT_INTERIOR),  # type: ignore[arg-type]
        gumbel=gumbel,
        exact_tricks_left=spec.int_option("exact", DEFAULT_EXACT_TRICKS_LEFT, minimum=0),
        belief_worlds=spec.int_option("belief", 0, minimum=0) > 0,
    )


# kind -> builder: (PlayerSpec, device) -> Player
PLAYER_BUILDERS: dict[str, Callable[[PlayerSpec, str], Player]] = {
    "random": build_random,
    "heuristic": build_heuristic,
    "greedy": build_greedy,
    "eq": build_eq_player,
    "mcts": build_mcts_player,
}
