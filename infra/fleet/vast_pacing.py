"""Pacing of Vast API calls by the limits Vast documents, so a fleet of any size never floods it.

Vast limits each endpoint per identity (the API key, the session user and the client's IP) as a
minimum interval between two requests; some endpoints instead allow a number of calls per period
(docs.vast.ai, "Rate Limits and Errors"). The limits of the calls a fleet makes are published in
the `x-rate-limit` of each endpoint's OpenAPI file (api-reference/openapi/yaml/ in vast-ai/docs):

    create_instance    PUT    /api/v0/asks/{id}/            4.5 s, and 12 s after a refused one
    destroy_instance   DELETE /api/v0/instances/{id}/       3.0 s
    label_instance     PUT    /api/v0/instances/{id}/       1.0 s
    show_instances     GET    /api/v1/instances/            1.0 s
    search_offers      POST   /api/v0/bundles/              10 per minute
    logs, show_user                                         none published

A 429 answers in plain text ("API requests too frequent: endpoint threshold=4.5") and never with
a Retry-After header, so the pacer reads the threshold from the text. One pacer serves every
fleet of a process that uses the same key (the selfplay and evalaux fleets of one health pass
share Vast's identity), and an interval runs from the end of the previous request, so a slow
answer never lets the next request arrive early.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# A little over the published interval: Vast measures arrivals, we measure our own clock.
MARGIN = 1.05
MARGIN_S = 0.05
THRESHOLD = re.compile(r"threshold\s*=\s*([0-9]+(?:\.[0-9]+)?)")


@dataclass(frozen=True)
class EndpointLimit:
    interval_s: float = 0.0  # minimum seconds between two requests
    penalty_s: float = 0.0  # after a refused request, none for this long
    per_minute: int = 0  # at most this many requests in any 60 s (0: no such limit)


# The x-rate-limit of each endpoint's OpenAPI file (vast-ai/docs, api-reference/openapi/yaml/).
LIMITS: dict[str, EndpointLimit] = {
    "create_instance": EndpointLimit(4.5, penalty_s=12.0),  # create_instance.yaml
    "destroy_instance": EndpointLimit(3.0),  # destroy_instance.yaml
    "label_instance": EndpointLimit(1.0),  # label_instance.yaml
    "show_instances": EndpointLimit(1.0),  # show_instances.yaml (v1)
    "search_offers": EndpointLimit(per_minute=10),  # search_offers.yaml
}


class Pacer:
    """Waits before each call until its endpoint may be called again; learns from 429s."""

    def __init__(
        self,
        limits: dict[str, EndpointLimit] | None = None,
        scale: float = 1.0,  # < 1 only against a fake that scales its limits the same way
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = LIMITS if limits is None else limits
        self.scale = scale
        self.clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}  # endpoint -> earliest next request
        self._recent: dict[str, deque[float]] = {}  # endpoint -> request times in the last 60 s
        self._busy: dict[str, threading.Lock] = {}
        self.waited_s = 0.0  # all the time calls spent waiting here (for reports)

    @contextmanager
    def slot(self, endpoint: str) -> Iterator[None]:
        """Hold the endpoint for one request: wait for its turn, then start its interval when
        the request is over (one request per endpoint at a time)."""
        limit = self.limits.get(endpoint)
        if limit is None:
            yield
            return
        with self._endpoint_lock(endpoint):
            self._wait_turn(endpoint, limit)
            try:
                yield
            finally:
                self._finished(endpoint, limit)

    def refused(self, endpoint: str, answer: str) -> float:
        """A 429 from Vast: the seconds to wait before this endpoint is asked again."""
        limit = self.limits.get(endpoint, EndpointLimit())
        found = THRESHOLD.search(answer or "")
        threshold = float(found.group(1)) if found else limit.interval_s
        wait = max(threshold, limit.penalty_s, 60.0 if limit.per_minute else 0.0, 1.0)
        wait = self._padded(wait)
        with self._lock:
            self._next[endpoint] = max(self._next.get(endpoint, 0.0), self.clock() + wait)
        return wait

    def _endpoint_lock(self, endpoint: str) -> threading.Lock:
        with self._lock:
            return self._busy.setdefault(endpoint, threading.Lock())

    def _wait_turn(self, endpoint: str, limit: EndpointLimit) -> None:
        while True:
            with self._lock:
                now = self.clock()
                ready = max(self._next.get(endpoint, 0.0), self._window_ready(endpoint, limit))
                if ready <= now:
                    return
            self.waited_s += ready - now
            self._sleep(ready - now)

    def _window_ready(self, endpoint: str, limit: EndpointLimit) -> float:
        """When a call fits the per-minute allowance again (0: now)."""
        if not limit.per_minute:
            return 0.0
        window = self._recent.setdefault(endpoint, deque())
        period = self._padded(60.0)
        while window and window[0] <= self.clock() - period:
            window.popleft()
        return window[0] + period if len(window) >= limit.per_minute else 0.0

    def _finished(self, endpoint: str, limit: EndpointLimit) -> None:
        with self._lock:
            now = self.clock()
            if limit.interval_s:
                start = now + self._padded(limit.interval_s)
                self._next[endpoint] = max(self._next.get(endpoint, 0.0), start)
            if limit.per_minute:
                self._recent.setdefault(endpoint, deque()).append(now)

    def _padded(self, seconds: float) -> float:
        return (seconds * MARGIN + MARGIN_S) * self.scale


_PACERS: dict[tuple[str, float], Pacer] = {}
_PACERS_LOCK = threading.Lock()


def shared_pacer(server_url: str, api_key: str, scale: float = 1.0) -> Pacer:
    """The pacer of one Vast identity in this process (a key's limits are the key's, whichever
    fleet calls)."""
    identity = hashlib.sha256(f"{server_url}\n{api_key}".encode()).hexdigest()
    with _PACERS_LOCK:
        return _PACERS.setdefault((identity, scale), Pacer(scale=scale))
