"""A strength ladder: fixed anchors and an experiment's checkpoints, rated by Bradley-Terry Elo.

    players    anchors (random, heuristic, greedy on the two reference checkpoints, E[Q] n=32)
               and checkpoints of one experiment (greedy, and MCTS at a set number of simulations)
    matches    each checkpoint player plays every anchor and its `neighbours` nearest checkpoint
               players (by rating, by cycle while unrated); anchors play each other; never all
               pairs. Every match is on the shared deals of `seed`, each deal twice, sides swapped.
    results    a cache keyed by (a, b, seed, first deal, games): a match is played once, ever;
               asking for more games plays only the deals not yet played (deal i of a seed is the
               same in every match, see `zeb_core.evaluation.arena.deal_games`).
    ratings    `zeb_core.evaluation.elo` over all results, random = 0.

Everything here is pure: where checkpoint files live and where the ladder is stored is the
caller's business (`infra.ladder_store`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zeb_core.evaluation.arena import deal_games, play_to_end
from zeb_core.evaluation.elo import EloConfig, PairResult, fit_elo
from zeb_core.game.engine import concat_states
from zeb_core.game.players import Player

LADDER_FORMAT = "zeb-ladder-1"
ANCHOR = "random"  # rated 0: every rating is Elo above uniformly random play
PlayerKind = Literal["random", "heuristic", "greedy", "mcts", "eq"]


class LadderError(ValueError):
    """A ladder file that does not match the schema, or two ladders that disagree."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LadderPlayer(_Strict):
    """One rung. `checkpoint` is a file name the caller resolves to a path: a reference
    checkpoint for anchors, a cached experiment checkpoint otherwise."""

    name: str = Field(min_length=1)  # unique on the ladder
    kind: PlayerKind
    options: dict[str, str] = Field(default_factory=dict)  # spec options: {"sims": "50"}
    checkpoint: str | None = None
    sha256: str | None = None  # of the checkpoint bytes that were rated
    anchor: bool = False
    cycle: int | None = Field(None, ge=0)  # learner cycle of an experiment checkpoint
    revision: str | None = None  # hub revision the checkpoint was taken from

    def spec(self, checkpoint_path: str | None = None) -> str:
        """The player spec (`greedy:PATH`, `mcts:PATH,sims=50`, `eq:n=32`)."""
        head = self.kind if checkpoint_path is None else f"{self.kind}:{checkpoint_path}"
        return ",".join([head] + [f"{k}={v}" for k, v in self.options.items()])


class MatchRecord(_Strict):
    """Games of deals first_deal .. first_deal + games/2 - 1 of `seed`, each with sides swapped."""

    a: str
    b: str
    seed: int
    first_deal: int = Field(ge=0)
    games: int = Field(gt=0, multiple_of=2)
    a_wins: int = Field(ge=0)  # a 21-21 tie counts for team 1, as in the arena
    a_margin: float  # mean of (A's points - B's points) per game
    seconds: float = Field(ge=0)

    @property
    def key(self) -> tuple[str, str, int, int, int]:
        return (self.a, self.b, self.seed, self.first_deal, self.games)


class LadderRating(_Strict):
    player: str
    rating: float
    lo: float  # 95% interval
    hi: float
    games: int


class Ladder(_Strict):
    """The stored ladder of one experiment: players, every match result, and the last fit."""

    format: Literal["zeb-ladder-1"] = LADDER_FORMAT
    experiment: str
    anchor: str = ANCHOR
    interval: str = "hessian"  # how the ratings' 95% intervals were computed (evaluation.elo)
    players: list[LadderPlayer]
    matches: list[MatchRecord] = Field(default_factory=list)
    ratings: list[LadderRating] = Field(default_factory=list)  # players joined to the anchor
    updated_at: datetime | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Ladder:
        try:
            return cls.model_validate_json(data)
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(root)"
            message = f"{where} is not a valid {LADDER_FORMAT}: {loc}: {first['msg']}"
            raise LadderError(message) from None

    def player(self, name: str) -> LadderPlayer:
        for p in self.players:
            if p.name == name:
                return p
        raise KeyError(name)

    def rating_of(self) -> dict[str, float]:
        return {r.player: r.rating for r in self.ratings}


class LadderConfig(_Strict):
    """How much to play. Defaults give about +-35 Elo from one 400-game pair alone; a checkpoint
    rated against five anchors and two neighbours ends near +-20."""

    games: int = Field(
        400, ge=2, multiple_of=2, description="Games per pair (each deal twice, sides swapped)"
    )
    neighbours: int = Field(
        2, ge=0, description="Nearest checkpoint players each checkpoint also plays"
    )
    seed: int = Field(20240, description="Seed of the deals: every pair plays the same deals")
    every: int = Field(10, ge=1, description="Cycles between rated checkpoints")
    mcts_sims: int | None = Field(
        None, ge=1, description="Also rate each checkpoint with MCTS at this many simulations"
    )
    batch_size: int = Field(
        64,
        ge=2,
        multiple_of=2,
        description="Games played at once: a block that is journaled (and cancels) as one",
    )
    games_per_run: int = Field(
        0,
        ge=0,
        description="Most games one update plays (0: sized to the machine); the rest waits"
        " for the next update",
    )


def default_anchors() -> list[LadderPlayer]:
    """The fixed rungs, weakest first (reference checkpoints from ../shared/reference)."""
    return [
        LadderPlayer(name="random", kind="random", anchor=True),
        LadderPlayer(name="heuristic", kind="heuristic", anchor=True),
        LadderPlayer(name="greedy-557k", kind="greedy", checkpoint="zeb-557k-1m.pt", anchor=True),
        LadderPlayer(name="greedy-e2839", kind="greedy", checkpoint="zeb-e2839.pt", anchor=True),
        LadderPlayer(name="eq-n32", kind="eq", options={"n": "32"}, anchor=True),
    ]


def checkpoint_players(
    cycle: int, checkpoint: str, sha256: str, revision: str | None, mcts_sims: int | None
) -> list[LadderPlayer]:
    """The rungs of one experiment checkpoint: greedy, and MCTS if `mcts_sims` is set."""
    common = dict(checkpoint=checkpoint, sha256=sha256, cycle=cycle, revision=revision)
    players = [LadderPlayer(name=f"c{cycle}-greedy", kind="greedy", **common)]
    if mcts_sims is not None:
        options = {"sims": str(mcts_sims)}
        players.append(
            LadderPlayer(name=f"c{cycle}-mcts{mcts_sims}", kind="mcts", options=options, **common)
        )
    return players


def with_rungs(ladder: Ladder, mcts_sims: int | None) -> Ladder:
    """Every checkpoint on the ladder with the rungs asked for (an MCTS rung added later)."""
    rungs = [
        rung
        for p in ladder.players
        if p.kind == "greedy" and not p.anchor and p.cycle is not None and p.sha256 is not None
        for rung in checkpoint_players(p.cycle, p.checkpoint or "", p.sha256, p.revision, mcts_sims)
    ]
    return with_players(ladder, rungs)


def due(ladder: Ladder, cycle: int, every: int) -> bool:
    """Rate the checkpoint of `cycle`? One per bucket of `every` cycles: the first one seen."""
    taken = {p.cycle // every for p in ladder.players if p.cycle is not None}
    return cycle // every not in taken


def with_players(ladder: Ladder, players: Iterable[LadderPlayer]) -> Ladder:
    known = {p.name for p in ladder.players}
    new = [p for p in players if p.name not in known]
    return ladder.model_copy(update={"players": ladder.players + new})


# -- planning ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedMatch:
    a: str  # a < b: a pair is one match whichever side asked for it
    b: str
    seed: int
    first_deal: int
    games: int


def plan_matches(ladder: Ladder, config: LadderConfig) -> list[PlannedMatch]:
    """The games still missing for every wanted pair to reach `config.games`."""
    planned = []
    for a, b in wanted_pairs(ladder, config.neighbours):
        played = covered_deals(ladder.matches, a, b, config.seed)
        if 2 * played < config.games:
            games = config.games - 2 * played
            planned.append(PlannedMatch(a, b, config.seed, played, games))
    return planned


def plan_run(ladder: Ladder, config: LadderConfig, budget_games: int) -> list[PlannedMatch]:
    """What one update plays: the missing games in blocks of at most `config.batch_size`, the
    newest checkpoint's pairs first and the anchors' own pairs last, `budget_games` in all (a
    pair cut short goes on from its next deal in the next update)."""
    blocks, left = [], budget_games - budget_games % 2
    for match in sorted(plan_matches(ladder, config), key=lambda m: _priority(ladder, m)):
        first, games = match.first_deal, match.games
        while games > 0 and left > 0:
            take = min(games, config.batch_size, left)
            blocks.append(PlannedMatch(match.a, match.b, match.seed, first, take))
            first, games, left = first + take // 2, games - take, left - take
    return blocks


def _priority(ladder: Ladder, match: PlannedMatch) -> tuple[int, str, str]:
    """Newest checkpoint first (by cycle; anchors have none and come last)."""
    cycles = [ladder.player(n).cycle for n in (match.a, match.b)]
    newest = max((c for c in cycles if c is not None), default=-1)
    return (-newest, match.a, match.b)


def wanted_pairs(ladder: Ladder, neighbours: int) -> list[tuple[str, str]]:
    """Anchors against each other; each checkpoint player against every anchor and against its
    nearest checkpoint players. Pairs are (a, b) with a < b."""
    anchors = [p.name for p in ladder.players if p.anchor]
    others = [p for p in ladder.players if not p.anchor]
    pairs = set(itertools.combinations(sorted(anchors), 2))
    ratings = ladder.rating_of()
    for p in others:
        pairs.update(_pair(p.name, a) for a in anchors)
        near = nearest(p, others, ratings)[:neighbours]
        pairs.update(_pair(p.name, q.name) for q in near)
    return sorted(pairs)


def nearest(
    player: LadderPlayer, others: list[LadderPlayer], ratings: Mapping[str, float]
) -> list[LadderPlayer]:
    """Other checkpoint players, nearest first: by rating when both are rated, else by cycle."""

    def distance(q: LadderPlayer) -> tuple[int, float, str]:
        if player.name in ratings and q.name in ratings:
            return (0, abs(ratings[q.name] - ratings[player.name]), q.name)
        return (1, abs((q.cycle or 0) - (player.cycle or 0)), q.name)

    return sorted((q for q in others if q.name != player.name), key=distance)


def covered_deals(matches: Iterable[MatchRecord], a: str, b: str, seed: int) -> int:
    """How many deals of `seed`, from the first on without a gap, the pair has played."""
    blocks = sorted(
        (m.first_deal, m.games // 2) for m in matches if (m.a, m.b, m.seed) == (a, b, seed)
    )
    covered = 0
    for first, deals in blocks:
        if first > covered:
            break
        covered = max(covered, first + deals)
    return covered


def _pair(x: str, y: str) -> tuple[str, str]:
    return (x, y) if x < y else (y, x)


# -- playing and fitting -------------------------------------------------------------------------


def play_planned(match: PlannedMatch, a: Player, b: Player, batch_size: int = 512) -> MatchRecord:
    """Play a planned block: deals first_deal.. of its seed, each twice with sides swapped."""
    n_deals = match.games // 2
    per_chunk = max(1, batch_size // 2)
    a_wins, margin, seconds = 0, 0, 0.0
    for first in range(match.first_deal, match.first_deal + n_deals, per_chunk):
        count = min(per_chunk, match.first_deal + n_deals - first)
        wins, points, took = _play_deals(a, b, match.seed, first, count)
        a_wins, margin, seconds = a_wins + wins, margin + points, seconds + took
    return MatchRecord(
        a=match.a,
        b=match.b,
        seed=match.seed,
        first_deal=match.first_deal,
        games=match.games,
        a_wins=a_wins,
        a_margin=margin / match.games,
        seconds=seconds,
    )


def _play_deals(a: Player, b: Player, seed: int, first: int, count: int) -> tuple[int, int, float]:
    """(A's wins, A's summed margin, seconds) over deals first..first+count-1, both sides."""
    start = time.perf_counter()
    deals = deal_games(seed, first, count)
    a_team = np.repeat([0, 1], count)
    rngs = [np.random.default_rng([seed, side, first]) for side in (1, 2)]
    final = play_to_end(concat_states([deals, deals]), a_team, a, b, *rngs)
    winner = np.where(final.team_points[:, 0] > final.team_points[:, 1], 0, 1)
    a_points = final.team_points[np.arange(final.batch_size), a_team].astype(np.int64)
    wins = int((winner == a_team).sum())
    return wins, int((2 * a_points - 42).sum()), time.perf_counter() - start


def add_result(ladder: Ladder, record: MatchRecord) -> Ladder:
    """The ladder with one more result (a result already there is kept, not doubled)."""
    if any(m.key == record.key for m in ladder.matches):
        return ladder
    return ladder.model_copy(update={"matches": ladder.matches + [record]})


def fit(ladder: Ladder, config: EloConfig | None = None) -> Ladder:
    """The ladder with ratings fitted to all its results."""
    config = config or EloConfig(anchor=ladder.anchor)
    results = [PairResult(m.a, m.b, m.a_wins, m.games) for m in ladder.matches]
    fitted = fit_elo(results, config)
    order = sorted(fitted.values(), key=lambda r: -r.rating)
    ratings = [
        LadderRating(player=r.player, rating=r.rating, lo=r.lo, hi=r.hi, games=r.games)
        for r in order
    ]
    return ladder.model_copy(update={"ratings": ratings, "interval": config.interval})


def merge(base: Ladder, other: Ladder) -> Ladder:
    """Union of two copies of one ladder (a concurrent update): players by name, results by key.
    Ratings are those of `other`; refit after merging."""
    if base.experiment != other.experiment or base.anchor != other.anchor:
        raise LadderError(f"cannot merge the ladders of {base.experiment} and {other.experiment}")
    mine = {p.name: p for p in base.players}
    for p in other.players:
        if p.name in mine and mine[p.name] != p:
            raise LadderError(f"player {p.name} differs between two copies of the ladder")
    merged = with_players(base, other.players)
    for record in other.matches:
        merged = add_result(merged, record)
    return merged.model_copy(update={"ratings": other.ratings, "updated_at": other.updated_at})


def new_ladder(experiment: str, anchors: list[LadderPlayer] | None = None) -> Ladder:
    return Ladder(experiment=experiment, players=anchors or default_anchors())
