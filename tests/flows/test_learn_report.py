"""What a learn run reports per cycle: games/s over a window that means something, and the
events the ladder follows."""

from __future__ import annotations

import pytest

from flows.learn_report import LADDER_DUE_EVENT, PUBLISHED_EVENT, CycleReporter, RateWindow


def test_games_per_s_is_steady_when_cycles_ingest_in_bursts():
    rate = RateWindow(window_s=120.0, min_span_s=20.0)
    seen = []
    total = 0.0
    for i in range(30):  # a cycle every 5 s; every other cycle ingests 100 games
        total += 100.0 if i % 2 else 0.0
        seen.append(rate.add(5.0 * i, total))
    assert seen[:4] == [None] * 4  # under 20 s seen: no figure yet, never "0.0"
    settled = [r for r in seen[12:] if r is not None]
    assert len(settled) == len(seen[12:])
    assert min(settled) == pytest.approx(10.0, rel=0.1) and max(settled) == pytest.approx(
        10.0, rel=0.1
    )


def test_the_window_forgets_what_is_older_than_it():
    rate = RateWindow(window_s=60.0, min_span_s=10.0)
    for t in range(0, 300, 10):  # 10 games/s for five minutes
        rate.add(float(t), 10.0 * t)
    for t in range(300, 400, 10):  # then nothing
        last = rate.add(float(t), 3000.0)
    assert last == pytest.approx(0.0)


class Log:
    def info(self, *args) -> None:
        pass


def test_the_ladder_is_due_every_fifth_publish_even_when_publishes_are_seen_late():
    events = []
    reporter = CycleReporter(
        "e",
        start_cycle=3,
        max_cycles=None,
        every=100,
        logger=Log(),
        publish_every=2,
        emit=lambda name, resource, payload: events.append((name, payload["cycle"])),
    )
    for cycle, published in [(4, 4), (6, 6), (8, 8), (12, 12), (14, 14), (26, 26), (28, 28)]:
        status = {"cycle": cycle, "published_cycle": published, "published_revision": f"r{cycle}"}
        reporter._maybe_published(status)
    due = [cycle for name, cycle in events if name == LADDER_DUE_EVENT]
    assert due == [12, 26]  # every 10 cycles (5 publishes of 2); 20 was missed and 26 caught up
    assert len([e for e in events if e[0] == PUBLISHED_EVENT]) == 7
