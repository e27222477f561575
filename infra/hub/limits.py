"""The rate limits zeb's storage lives under, as their vendors document them, in one place.

Hugging Face Hub (docs: huggingface.co/docs/hub/rate-limits, "Rate limit Tiers", September 2025):
every quota is counted over a fixed 5-minute window, per user (per member for organizations),
in three buckets: Hub API calls (listing a repo, committing, repo info), Resolvers (file
downloads, `/resolve/` URLs) and Pages. A 429 carries the IETF draft's `RateLimit` header,
`"api";r=<remaining>;t=<seconds until the window resets>`, which huggingface_hub (1.2+) waits
out; zeb's retry does the same. Commits per repository are limited too, but that limit is not
documented ("We don't currently document the rate limits for those specific actions"): about
128 an hour per repo is what users observe, and zeb budgets 100.

S3-compatible storage (docs: AWS S3 User Guide, "Best practices design patterns: optimizing
Amazon S3 performance"): at least 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD requests a second
per partitioned prefix; throttling answers 503 `SlowDown` ("Reduce your request rate"), retried
with backoff as AWS advises; `DeleteObjects` takes at most 1,000 keys (S3 API Reference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

HF_WINDOW_S = 300.0
HfTier = Literal["anonymous", "free", "pro", "team", "enterprise"]


@dataclass(frozen=True)
class HfQuota:
    api: int  # Hub API calls per 5-minute window
    resolvers: int  # file downloads per 5-minute window


HF_QUOTAS: dict[HfTier, HfQuota] = {
    "anonymous": HfQuota(api=500, resolvers=3_000),  # per IP address
    "free": HfQuota(api=1_000, resolvers=5_000),
    "pro": HfQuota(api=2_500, resolvers=12_000),
    "team": HfQuota(api=3_000, resolvers=20_000),
    "enterprise": HfQuota(api=6_000, resolvers=50_000),
}
HF_COMMITS_PER_REPO_HOUR = 128  # observed, not documented (see above)
HF_COMMIT_BUDGET = 100  # what one zeb process spends of it by default

# A worker's look for new weights is one resolver request (an ETag); when they changed, its pull
# reads the state, config and checkpoint, a HEAD and a GET each at a pinned revision: 7 resolver
# requests and no API call. Looking once a minute, or every 1.5 s per worker of the fleet when
# that is longer, keeps a fleet of any size under 7 x 300 / 1.5 = 1,400 resolver requests per
# 5 minutes: 28% of a free account's 5,000, leaving the rest to the learner and to people.
HF_WEIGHTS_CHECK_MIN_S = 60.0
HF_WEIGHTS_CHECK_S_PER_WORKER = 1.5


def hf_weights_check_s(fleet_size: int) -> float:
    """Seconds between a worker's looks for new weights on Hugging Face, for a fleet this size
    (60 s up to 40 workers, 300 s at 200)."""
    return max(HF_WEIGHTS_CHECK_MIN_S, HF_WEIGHTS_CHECK_S_PER_WORKER * max(fleet_size, 1))


S3_DELETE_BATCH = 1_000
S3_PUTS_PER_PREFIX_S = 3_500
S3_GETS_PER_PREFIX_S = 5_500
S3_RETRY_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"}
)

_RATE_LIMIT_RESET = re.compile(r"\bt=(\d+(?:\.\d+)?)")


def rate_limit_reset(headers: dict[str, str] | object) -> float | None:
    """Seconds until the quota window resets, from a `RateLimit` header (None without one)."""
    value = _header(headers, "RateLimit")
    found = _RATE_LIMIT_RESET.search(value or "")
    return float(found.group(1)) if found else None


def server_wait(headers: dict[str, str] | object) -> float:
    """The least a client must wait after a 429 or 503: the later of Retry-After and the
    RateLimit window's reset (0.0 when the server said neither)."""
    retry_after = _header(headers, "Retry-After") or ""
    waits = [float(retry_after)] if retry_after.replace(".", "", 1).isdigit() else []
    reset = rate_limit_reset(headers)
    return max([*waits, *([reset] if reset is not None else []), 0.0])


def s3_transient(err: BaseException) -> float | None:
    """None if an S3 error is permanent; else the least wait (0.0: back off as usual)."""
    response = getattr(err, "response", None)
    if isinstance(response, dict):  # botocore's ClientError
        code = str(response.get("Error", {}).get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in S3_RETRY_CODES or status in (500, 502, 503, 504):
            return server_wait(response.get("ResponseMetadata", {}).get("HTTPHeaders", {}))
        return None
    name = type(err).__name__  # botocore's transport errors: a connection or a read timed out
    if name in ("EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError"):
        return 0.0
    if name in ("ConnectTimeoutError", "ConnectionError"):
        return 0.0
    return None


def _header(headers: dict[str, str] | object, name: str) -> str | None:
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    return getter(name) or getter(name.lower())
