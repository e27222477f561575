"""Solver and E[Q] speed: full-deal solves, E[Q] decision time, E[Q] arena games per second.

    python bench/solver.py [--deals 200] [--eq-games 2] [--arena-games 16] [--worlds 32]

Runs on one core (numba code is single-threaded). Times are CPU seconds of this process
(time.process_time), so that other jobs on a shared machine do not inflate them; the arena's own
games/s is wall-clock. The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from zeb_core.arena import play_match
from zeb_core.engine import legal_mask, new_games, step
from zeb_core.eq_player import EQPlayer
from zeb_core.players import RandomPlayer
from zeb_core.solver import TranspositionTable, solve_states


def time_full_deals(
    n_deals: int, table: TranspositionTable, actions: bool
) -> tuple[np.ndarray, float]:
    """Milliseconds per full-deal solve from the opening lead, one deal at a time; mean nodes."""
    deals = new_games(np.random.default_rng(2024), n_deals)
    solve_states(deals.take([0]), actions=actions, table=table)  # compile / load the cache
    ms = np.zeros(n_deals)
    table.nodes[:] = 0
    for g in range(n_deals):
        one = deals.take([g])
        start = time.process_time()
        solve_states(one, actions=actions, table=table)
        ms[g] = (time.process_time() - start) * 1e3
    return ms, float(table.nodes[0]) / n_deals


def time_eq_decisions(n_games: int, worlds: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per E[Q] decision when E[Q] plays all four seats, one game at a time; and
    whether each decision had a choice (forced moves are not searched)."""
    player = EQPlayer(n_worlds=worlds)
    rng = np.random.default_rng(7)
    seconds, choice = [], []
    for g in range(n_games):
        state = new_games(np.random.default_rng([7, g]), 1)
        while not state.done.all():
            choice.append(bool(legal_mask(state).sum() > 1))
            start = time.process_time()
            action = player.act(state, rng)
            seconds.append(time.process_time() - start)
            state = step(state, action)
    return np.array(seconds), np.array(choice)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=200, help="full deals to solve")
    parser.add_argument("--eq-games", type=int, default=2, help="games of E[Q] on all 4 seats")
    parser.add_argument("--arena-games", type=int, default=16, help="E[Q] vs random games")
    parser.add_argument("--worlds", type=int, default=32, help="E[Q] sampled worlds")
    args = parser.parse_args()

    table = TranspositionTable()
    root_ms, root_nodes = time_full_deals(args.deals, table, actions=False)
    print(f"full-deal root value ({args.deals} deals): median {np.median(root_ms):.2f} ms, "
          f"p90 {np.percentile(root_ms, 90):.2f} ms, max {root_ms.max():.1f} ms, "
          f"{root_nodes:.0f} nodes on average")  # fmt: skip
    all_ms, all_nodes = time_full_deals(args.deals, table, actions=True)
    print(f"full-deal value of all 7 leads: median {np.median(all_ms):.2f} ms")
    eq_s, choice = time_eq_decisions(args.eq_games, args.worlds)
    print(f"E[Q] n={args.worlds}: {eq_s.mean():.3f} s per decision over all {eq_s.size} decisions "
          f"({eq_s[choice].mean():.3f} s over the {choice.sum()} with a choice; "
          f"max {eq_s.max():.2f} s)")  # fmt: skip
    cpu = time.process_time()
    match = play_match(EQPlayer(n_worlds=args.worlds), RandomPlayer(), args.arena_games, seed=1)
    cpu_rate = args.arena_games / (time.process_time() - cpu)
    print(f"arena E[Q] vs random ({args.arena_games} games): {cpu_rate:.3f} games per CPU second, "
          f"{match.games_per_s:.3f} games/s wall")  # fmt: skip
    print(f"transposition table: {table.nbytes / 2**20:.1f} MiB ({table.key.size} entries)")
    figures = {
        "solve_root_median_ms": round(float(np.median(root_ms)), 3),
        "solve_root_p90_ms": round(float(np.percentile(root_ms, 90)), 3),
        "solve_root_mean_nodes": round(root_nodes),
        "solve_all_leads_median_ms": round(float(np.median(all_ms)), 3),
        "solve_all_leads_mean_nodes": round(all_nodes),
        "eq_worlds": args.worlds,
        "eq_decision_mean_s": round(float(eq_s.mean()), 4),
        "eq_decision_with_choice_mean_s": round(float(eq_s[choice].mean()), 4),
        "eq_decision_max_s": round(float(eq_s.max()), 3),
        "eq_vs_random_games_per_cpu_s": round(cpu_rate, 4),
        "eq_vs_random_games_per_s_wall": round(match.games_per_s, 4),
        "tt_entries": int(table.key.size),
        "tt_mib": round(table.nbytes / 2**20, 1),
        "deals": args.deals,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
