"""Player specs `KIND[:PATH][,KEY=VALUE...]` (for example `greedy:ckpt.pt`, `mcts:ckpt.pt,sims=50`,
`eq:n=32`) and the registry that turns them into players.

Builders are named by import path so that `zeb eval random vs heuristic` does not import torch or
numba for players it does not use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from zeb_core.players import Player

# kind -> "module:function"; the function takes (PlayerSpec, device) and returns a Player.
PLAYER_BUILDERS: dict[str, str] = {
    "random": "zeb_core.player_specs:build_random",
    "heuristic": "zeb_core.player_specs:build_heuristic",
    "greedy": "zeb_core.model_players:build_greedy",
    "eq": "zeb_core.eq_player:build_eq_player",
    "mcts": "zeb_core.mcts_player:build_mcts_player",
}


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
    module_name, _, func_name = PLAYER_BUILDERS[parsed.kind].partition(":")
    builder = getattr(importlib.import_module(module_name), func_name)
    return builder(parsed, device)


def build_random(spec: PlayerSpec, device: str) -> Player:
    from zeb_core.players import RandomPlayer

    spec.check_options(set())
    return RandomPlayer()


def build_heuristic(spec: PlayerSpec, device: str) -> Player:
    from zeb_core.players import HeuristicPlayer

    spec.check_options(set())
    return HeuristicPlayer()
