"""Retries with exponential backoff and jitter, and a per-repo commit budget.

Both are generic (no Hugging Face types) so that they can be tested with a fake clock; `hf.py`
decides which errors are transient.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a transient failure.

    The wait before try `k+1` is drawn uniformly from [cap/2, cap] with cap = min(max_s, base_s*2^k)
    ("equal jitter"): it grows exponentially, yet processes that failed together (a fleet of workers
    hit by the same 429) do not come back together. A server's Retry-After is a lower bound.
    The defaults ride out about ten minutes of outage, long enough for a Hub incident or a
    rate-limit window, short enough that a process stuck on a dead endpoint eventually says so.
    """

    attempts: int = 10
    base_s: float = 2.0
    max_s: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def delay(self, attempt: int, at_least: float = 0.0) -> float:
        cap = min(self.max_s, self.base_s * (2**attempt))
        return max(at_least, self.rng.uniform(cap / 2, cap))


def call_with_retry(
    fn: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy,
    transient: Callable[[BaseException], float | None],
    give_up: Callable[[str, BaseException], BaseException],
) -> T:
    """Call `fn` until it succeeds, retrying errors for which `transient(err)` is not None.

    `transient` returns None for a permanent error (re-raised as is) or the server's minimum wait
    in seconds (0.0 when it gave none). When the tries run out, `give_up(what, last_error)` is
    raised. Log lines name the operation and the error class only, never request headers.
    """
    for attempt in range(policy.attempts):
        try:
            return fn()
        except Exception as err:  # noqa: BLE001 - classified right below
            at_least = transient(err)
            if at_least is None:
                raise
            if attempt + 1 == policy.attempts:
                raise give_up(what, err) from err
            wait = policy.delay(attempt, at_least)
            log.warning(
                "%s failed (%s); retry %d/%d in %.1fs",
                what,
                describe(err),
                attempt + 1,
                policy.attempts - 1,
                wait,
            )
            policy.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover - attempts >= 1


def describe(err: BaseException) -> str:
    """A short, token-free description of an error: its class and HTTP status if any."""
    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None)
    return f"{type(err).__name__}" + (f" HTTP {status}" if status is not None else "")


class CommitBudget:
    """At most `per_window` commits per repo in any sliding `window_s` (Hugging Face allows about
    128 commits per hour per repo; the default of 100 leaves room for a human or a second tool).

    `acquire(repo)` blocks until a commit may go out. The budget is per process: a fleet of workers
    sharing one examples repo must also keep `workers * 3600 / upload_interval_s` under the limit;
    the 429 backoff covers the rest.
    """

    def __init__(
        self,
        per_window: int = 100,
        window_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_window < 1:
            raise ValueError("per_window must be at least 1")
        self.per_window = per_window
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_time(self, repo: str) -> float:
        """Seconds until a commit to `repo` would fit in the budget (0.0 if it fits now)."""
        with self._lock:
            return self._wait_time(repo, self._clock())

    def acquire(self, repo: str) -> float:
        """Block until a commit fits, record it, and return how long we waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_time(repo, now)
                if wait <= 0:
                    self._sent.setdefault(repo, deque()).append(now)
                    return waited
            log.warning("commit budget for %s spent; waiting %.0fs", repo, wait)
            self._sleep(wait)
            waited += wait

    def _wait_time(self, repo: str, now: float) -> float:
        sent = self._sent.setdefault(repo, deque())
        while sent and sent[0] <= now - self.window_s:
            sent.popleft()
        if len(sent) < self.per_window:
            return 0.0
        return sent[0] + self.window_s - now
