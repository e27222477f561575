"""Hugging Face's rate limits for the fake Hub (`FakeHfServer(limits=HfLimits(...))`), opt-in.

Every rule names its source. The documented ones come from the Hub documentation's "Hub Rate
limits" page, https://huggingface.co/docs/hub/rate-limits (as of September 2025; the numbers are
`infra.hub.limits.HF_QUOTAS`):

- [buckets] "We distinguish three main buckets": Hub APIs ("All endpoints that belong to this
  bucket are documented in Hub API Endpoints": every `/api/...` path: repo info, listings,
  paths-info, preupload, commit, repo creation), Resolvers ("all the URLs that contain a
  `/resolve/` segment in their path": file downloads and their HEADs) and Pages (web pages: not
  served by this fake, so never counted or limited).
- [tiers] Section "Rate limit Tiers": requests allowed per bucket per plan, per user (a token;
  without one, per IP address at the anonymous quota). "All quotas are calculated over 5-minute
  fixed windows." Here a window starts at the first request's clock reading and windows follow
  back to back; a request refused with a 429 is not counted in its window.
- [headers] Section "HTTP Headers": over quota the Hub answers **429** with the IETF draft's
  headers, `RateLimit: "api|pages|resolvers";r=[remaining];t=[seconds remaining until reset]` and
  `RateLimit-Policy: "fixed window";"api|pages|resolvers";q=[total allowed for window];w=[window
  duration in seconds]`.

One rule is observed, NOT documented: the same page's "Granular user action Rate limits" says
repo commits are limited but "We don't currently document the rate limits for those specific
actions". Users report the Hub's 429 text "You have exceeded the rate limit for repository commits
(128 per hour). You can retry this action in about 1 hour." (github.com/braindecode/braindecode
issue 947, March 2026; also huggingface/datasets issue 6257, "exceeded our hourly quotas for
action: commit"). That report's 429 carried the API bucket's RateLimit header with quota left
(huggingface_hub printed "Retry after 271 seconds (949/1000 requests remaining in current 300s
window)"), so this fake does the same. How the hour is counted is not known either: this fake
refuses a commit while `commits_per_hour` commits to the repo landed in the trailing hour.

`time_scale` shrinks time for benchmarks: a 5-minute window lasts 300 / time_scale seconds of
`clock`, the commit hour 3600 / time_scale, and `t=` and `w=` are given in those scaled seconds (a
client that waits `t` waits the right time). The Hub sends whole seconds; a scaled window is often
shorter than a second, so with time_scale != 1 they are sent with up to 3 decimals, rounded up
(huggingface_hub reads the integer part and adds a second; zeb reads the whole number).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from infra.hub.limits import HF_COMMITS_PER_REPO_HOUR, HF_QUOTAS, HF_WINDOW_S, HfQuota, HfTier

DOCS = "https://huggingface.co/docs/hub/rate-limits"
COMMIT_LIMIT_SOURCE = "https://github.com/braindecode/braindecode/issues/947 (observed)"
BUCKETS = ("api", "resolvers")
_COMMIT = re.compile(r"^/api/(models|datasets)/([^/]+/[^/]+)/commit/")


@dataclass(frozen=True)
class Refusal:
    """A 429 to send instead of processing the request."""

    reason: str  # "api", "resolvers" or "commits"
    body: dict
    headers: dict[str, str]


def bucket_of(path: str) -> str | None:
    """The bucket a request path counts in [buckets]; None for pages (not limited here)."""
    if "/resolve/" in path:
        return "resolvers"
    if path.startswith("/api/"):
        return "api"
    return None


class HfLimits:
    """The Hub's quotas for one fake server. `quota` overrides the tier's (small ones for tests);
    `commits_per_hour=None` turns the observed commit rule off (commits are still counted)."""

    def __init__(
        self,
        tier: HfTier = "free",
        time_scale: float = 1.0,
        *,
        quota: HfQuota | None = None,
        commits_per_hour: int | None = HF_COMMITS_PER_REPO_HOUR,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.tier = tier
        self.time_scale = time_scale
        self.quota = quota or HF_QUOTAS[tier]
        self.anonymous_quota = quota or HF_QUOTAS["anonymous"]
        self.commits_per_hour = commits_per_hour
        self.window_s = HF_WINDOW_S / time_scale
        self.hour_s = 3600.0 / time_scale
        self.clock = clock
        self._start: float | None = None
        self._lock = threading.Lock()
        # (user, bucket) -> window index -> requests served / tried (served + refused)
        self._served: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
        self._tried: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
        self._landed: dict[str, deque[float]] = defaultdict(deque)  # repo -> commit times
        self._per_hour: dict[str, Counter[int]] = defaultdict(Counter)  # repo -> hour -> commits
        self.refused: Counter[str] = Counter()  # reason -> 429s served
        self._held = threading.local()  # the commit slot a handler thread holds

    # -- the server's side -------------------------------------------------------------------------

    def admit(self, method: str, path: str, token: str, address: str) -> Refusal | None:
        """Count a request (before it is processed); a Refusal when it is over a limit."""
        self._held.slot = None
        bucket = bucket_of(path)
        if bucket is None:
            return None
        user = token or f"ip:{address}"  # [tiers] per user; anonymous: per IP address
        limit = getattr(self.quota if token else self.anonymous_quota, bucket)
        with self._lock:
            now = self._now()
            window = int(now // self.window_s)
            reset = (window + 1) * self.window_s - now
            self._tried[(user, bucket)][window] += 1
            served = self._served[(user, bucket)]
            if served[window] >= limit:  # [tiers] over the fixed window's quota -> [headers] 429
                self.refused[bucket] += 1
                message = (
                    f"We had to rate limit you, you hit the quota of {limit} {bucket} requests per "
                    f"5 minutes period. See {DOCS}"
                )
                return Refusal(bucket, {"error": message}, self._headers(bucket, 0, limit, reset))
            served[window] += 1
            repo = _commit_repo(method, path)
            if repo is None:
                return None
            # Observed, not documented (COMMIT_LIMIT_SOURCE): commits per repo per hour.
            landed = self._landed[repo]
            while landed and landed[0] <= now - self.hour_s:
                landed.popleft()
            if self.commits_per_hour is not None and len(landed) >= self.commits_per_hour:
                self.refused["commits"] += 1
                message = (
                    "You have exceeded the rate limit for repository commits "
                    f"({self.commits_per_hour} per hour). You can retry this action in about 1 "
                    "hour."
                )
                left = limit - served[window]
                return Refusal(
                    "commits", {"error": message}, self._headers(bucket, left, limit, reset)
                )
            landed.append(now)  # held for this commit; given back if it does not land
            self._held.slot = (repo, now)  # the handler thread answers what it admitted
        return None

    def answered(self, method: str, path: str, status: int) -> None:
        """After the answer: a commit counts in its repo's hour only if it landed."""
        slot = getattr(self._held, "slot", None)
        self._held.slot = None
        if slot is None or _commit_repo(method, path) != slot[0]:
            return
        repo, at = slot
        with self._lock:
            if status == 200:
                self._per_hour[repo][int(at // self.hour_s)] += 1
                return
            try:
                self._landed[repo].remove(at)  # it did not land: its slot is free again
            except ValueError:
                pass  # aged out of the hour meanwhile

    # -- what benchmarks and tests read ------------------------------------------------------------

    def busiest_window(self, bucket: str, tried: bool = False) -> int:
        """Requests of one user in the busiest fixed window of `bucket` (served, or tried)."""
        table = self._tried if tried else self._served
        with self._lock:
            counts = [
                n for (_, b), windows in table.items() if b == bucket for n in windows.values()
            ]
        return max(counts, default=0)

    def windows(self, bucket: str) -> dict[int, int]:
        """Requests served per window index, summed over users."""
        out: Counter[int] = Counter()
        with self._lock:
            for (_, b), windows in self._served.items():
                if b == bucket:
                    out.update(windows)
        return dict(sorted(out.items()))

    def commits_per_hour_landed(self) -> dict[str, dict[int, int]]:
        """Commits that landed, per repo (`models/user/name`) and per (scaled) hour index."""
        with self._lock:
            return {repo: dict(sorted(hours.items())) for repo, hours in self._per_hour.items()}

    def figures(self) -> dict:
        return {
            "tier": self.tier,
            "time_scale": self.time_scale,
            "window_s": self.window_s,
            "quota": {b: getattr(self.quota, b) for b in BUCKETS},
            "busiest_window": {b: self.busiest_window(b) for b in BUCKETS},
            "busiest_window_tried": {b: self.busiest_window(b, tried=True) for b in BUCKETS},
            "commits_per_hour": self.commits_per_hour_landed(),
            "refused": dict(self.refused),
        }

    # -- internals ---------------------------------------------------------------------------------

    def _now(self) -> float:
        now = self.clock()
        if self._start is None:
            self._start = now
        return now - self._start

    def _headers(self, bucket: str, left: int, limit: int, reset: float) -> dict[str, str]:
        # [headers] the IETF draft's fields as the Hub sends them
        t, w = self._seconds(reset), self._seconds(self.window_s)
        return {
            "RateLimit": f'"{bucket}";r={max(left, 0)};t={t}',
            "RateLimit-Policy": f'"fixed window";"{bucket}";q={limit};w={w}',
        }

    def _seconds(self, value: float) -> str:
        if self.time_scale == 1.0:
            return str(max(math.ceil(value), 0))
        return f"{math.ceil(max(value, 0.0) * 1000) / 1000:.3f}".rstrip("0").rstrip(".")


def _commit_repo(method: str, path: str) -> str | None:
    match = _COMMIT.match(path) if method == "POST" else None
    return f"{match.group(1)}/{match.group(2)}" if match else None
