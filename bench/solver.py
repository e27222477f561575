"""Solver and E[Q] speed: full-deal solves, E[Q] decision time, E[Q] arena games per second,
and E[Q] decisions per second on 1 and 2 threads (the parallel solver's speed-up).

    python bench/solver.py [--deals 200] [--eq-games 2] [--arena-games 16] [--worlds 32]
                           [--positions 24] [--repeats 3]

The single-core figures run on one thread and are CPU seconds of this process
(time.process_time), so that other jobs on a shared machine do not inflate them; the arena's own
games/s is wall-clock. The thread figures are wall-clock by necessity: the same batch of
decisions on 1 and on 2 threads, alternating, best of --repeats each; `loadavg_1m` says how busy
the machine was. The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from zeb_core.evaluation.arena import play_match
from zeb_core.game.engine import GameState, concat_states, legal_mask, new_games, step
from zeb_core.game.players import RandomPlayer
from zeb_core.oracle.eq_player import EQPlayer
from zeb_core.oracle.solver import TranspositionTable, solve_states


def time_full_deals(
    n_deals: int, table: TranspositionTable, actions: bool
) -> tuple[np.ndarray, float]:
    """Milliseconds per full-deal solve from the opening lead, one deal at a time; mean nodes."""
    deals = new_games(np.random.default_rng(2024), n_deals)
    solve_states(deals.take([0]), actions=actions, table=table, threads=1)  # compile / load
    ms = np.zeros(n_deals)
    table.nodes[:] = 0
    for g in range(n_deals):
        one = deals.take([g])
        start = time.process_time()
        solve_states(one, actions=actions, table=table, threads=1)
        ms[g] = (time.process_time() - start) * 1e3
    return ms, float(table.nodes.sum()) / n_deals


def time_eq_decisions(n_games: int, worlds: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per E[Q] decision when E[Q] plays all four seats, one game at a time; and
    whether each decision had a choice (forced moves are not searched)."""
    player = EQPlayer(n_worlds=worlds, threads=1, table=TranspositionTable())
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


def decision_positions(n: int) -> GameState:
    """`n` decisions with a choice, from openings to late tricks (random play from fixed deals)."""
    rng = np.random.default_rng(11)
    found = []
    while len(found) < n:
        state = new_games(rng, 1)
        for _ in range(int(rng.integers(0, 22))):
            state = step(state, RandomPlayer().act(state, rng))
        if legal_mask(state).sum() > 1:
            found.append(state)
    return concat_states(found)


def eq_rates_by_threads(
    positions: GameState, worlds: int, threads: list[int], repeats: int
) -> dict[int, float]:
    """E[Q] decisions per wall second on the batch, per thread count (best of `repeats`, the
    counts alternating so that a burst of load on the machine hits each of them alike)."""
    players = {
        t: EQPlayer(n_worlds=worlds, threads=t, table=TranspositionTable(lanes=t)) for t in threads
    }
    for player in players.values():
        player.act(positions.take([0]), np.random.default_rng(0))  # compile / load the cache
    best = dict.fromkeys(threads, 0.0)
    for _ in range(repeats):
        for t, player in players.items():
            start = time.perf_counter()
            player.act(positions, np.random.default_rng(1))
            best[t] = max(best[t], positions.batch_size / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=200, help="full deals to solve")
    parser.add_argument("--eq-games", type=int, default=2, help="games of E[Q] on all 4 seats")
    parser.add_argument("--arena-games", type=int, default=16, help="E[Q] vs random games")
    parser.add_argument("--worlds", type=int, default=32, help="E[Q] sampled worlds")
    parser.add_argument("--positions", type=int, default=24, help="decisions timed per thread")
    parser.add_argument("--repeats", type=int, default=3, help="timings per thread count")
    args = parser.parse_args()

    table = TranspositionTable()  # one lane: the single-core figures
    root_ms, root_nodes = time_full_deals(args.deals, table, actions=False)
    print(
        f"full-deal root value ({args.deals} deals): median {np.median(root_ms):.2f} ms, "
        f"p90 {np.percentile(root_ms, 90):.2f} ms, max {root_ms.max():.1f} ms, "
        f"{root_nodes:.0f} nodes on average"
    )
    all_ms, all_nodes = time_full_deals(args.deals, table, actions=True)
    print(f"full-deal value of all 7 leads: median {np.median(all_ms):.2f} ms")
    eq_s, choice = time_eq_decisions(args.eq_games, args.worlds)
    print(
        f"E[Q] n={args.worlds}: {eq_s.mean():.3f} s per decision over all {eq_s.size} decisions "
        f"({eq_s[choice].mean():.3f} s over the {choice.sum()} with a choice; "
        f"max {eq_s.max():.2f} s)"
    )
    cpu = time.process_time()
    eq_one = EQPlayer(n_worlds=args.worlds, threads=1, table=table)
    match = play_match(eq_one, RandomPlayer(), args.arena_games, seed=1)
    cpu_rate = args.arena_games / (time.process_time() - cpu)
    print(
        f"arena E[Q] vs random ({args.arena_games} games): {cpu_rate:.3f} games per CPU "
        f"second, {match.games_per_s:.3f} games/s wall"
    )
    print(f"transposition table: {table.nbytes / 2**20:.1f} MiB ({table.key.size} entries)")
    positions = decision_positions(args.positions)
    load = os.getloadavg()[0]  # how busy the machine was as the thread figures start
    rates = eq_rates_by_threads(positions, args.worlds, [1, 2], args.repeats)
    speedup = rates[2] / rates[1]
    print(
        f"E[Q] n={args.worlds} on {args.positions} decisions: {rates[1]:.2f}/s on 1 thread, "
        f"{rates[2]:.2f}/s on 2 threads (x{speedup:.2f}); load average {load:.2f}"
    )
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
        "eq_decisions_per_s_1_thread": round(rates[1], 3),
        "eq_decisions_per_s_2_threads": round(rates[2], 3),
        "eq_threads_2_vs_1": round(speedup, 3),
        "loadavg_1m": round(load, 2),
        "deals": args.deals,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
