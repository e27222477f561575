"""The fake Hub's rate limits (fake_hf_limits.py): 429s with the documented headers, fixed windows
that reset after their scaled length, separate buckets, the observed commit limit, and nothing of
it unless asked for. Clients: httpx for the raw headers, huggingface_hub and HfHub for real use."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import parse_ratelimit_headers

from infra.hub.hf import HfHub
from infra.hub.limits import HfQuota, rate_limit_reset
from infra.hub.retry import RetryPolicy
from tests.fakes.fake_hf_limits import HfLimits
from tests.fakes.fake_hf_server import FakeHfServer

TOKEN = "hf_zebLimitsTestToken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
INFO = "/api/models/zeb/w"  # repo info: the API bucket
FILE = "/zeb/w/resolve/main/a.bin"  # a file: the Resolvers bucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def hub_with_file(server: FakeHfServer) -> None:
    """A repo holding a.bin, made before the limits are switched on."""
    api = HfApi(endpoint=server.url, token=TOKEN)
    api.create_repo("zeb/w")
    api.upload_file(path_or_fileobj=b"abc", path_in_repo="a.bin", repo_id="zeb/w")


@pytest.fixture
def server():
    with FakeHfServer(token=TOKEN) as server:
        hub_with_file(server)
        yield server


def get(server: FakeHfServer, path: str, method: str = "GET") -> httpx.Response:
    return httpx.request(method, server.url + path, headers=AUTH, timeout=10)


def test_limits_are_off_by_default(server: FakeHfServer) -> None:
    assert server.limits is None
    assert all(get(server, INFO).status_code == 200 for _ in range(30))


def test_over_quota_is_a_429_with_the_documented_headers(server: FakeHfServer) -> None:
    clock = Clock()
    server.limits = HfLimits("free", quota=HfQuota(api=3, resolvers=50), clock=clock)
    assert [get(server, INFO).status_code for _ in range(3)] == [200, 200, 200]
    clock.sleep(100.0)
    refused = get(server, INFO)
    assert refused.status_code == 429
    assert refused.headers["RateLimit"] == '"api";r=0;t=200'
    assert refused.headers["RateLimit-Policy"] == '"fixed window";"api";q=3;w=300'
    assert "rate limit" in refused.json()["error"]
    # huggingface_hub reads them as the Hub's own (and gives up on repo_info: no retry there)
    info = parse_ratelimit_headers(refused.headers)
    assert (info.remaining, info.reset_in_seconds, info.limit, info.window_seconds) == (
        0,
        200,
        3,
        300,
    )
    with pytest.raises(HfHubHTTPError) as err:
        HfApi(endpoint=server.url, token=TOKEN).repo_info("zeb/w")
    assert err.value.response.status_code == 429
    limits = server.limits
    assert limits.refused["api"] == 2
    assert limits.busiest_window("api") == 3 and limits.busiest_window("api", tried=True) == 5


def test_the_window_resets_after_its_scaled_length(server: FakeHfServer) -> None:
    clock = Clock()
    server.limits = HfLimits("free", time_scale=60, quota=HfQuota(api=2, resolvers=50), clock=clock)
    assert server.limits.window_s == 5.0  # 300 s / 60
    get(server, INFO), get(server, INFO)
    clock.sleep(1.25)
    refused = get(server, INFO)
    assert refused.status_code == 429
    assert rate_limit_reset(refused.headers) == 3.75  # scaled seconds, not whole ones
    assert refused.headers["RateLimit-Policy"].endswith("w=5")
    clock.sleep(3.7)
    assert get(server, INFO).status_code == 429  # still the same window
    clock.sleep(0.05)
    assert get(server, INFO).status_code == 200  # a new window, a new quota
    assert server.limits.windows("api") == {0: 2, 1: 1}


def test_the_window_resets_in_real_time_too(server: FakeHfServer) -> None:
    server.limits = HfLimits("free", time_scale=600, quota=HfQuota(api=2, resolvers=50))
    for _ in range(50):  # until a 429 (a window may end while the quota is being spent)
        refused = get(server, INFO)
        if refused.status_code == 429:
            break
    assert refused.status_code == 429
    wait = rate_limit_reset(refused.headers)
    assert 0 < wait <= 0.5  # a 5-minute window at 600x lasts half a second
    time.sleep(wait + 0.02)
    assert get(server, INFO).status_code == 200


def test_resolvers_and_api_are_separate_buckets(server: FakeHfServer) -> None:
    server.limits = HfLimits("free", quota=HfQuota(api=2, resolvers=3), clock=Clock())
    get(server, INFO), get(server, INFO)
    assert get(server, INFO).status_code == 429
    statuses = [get(server, FILE, method).status_code for method in ("HEAD", "GET", "HEAD")]
    assert statuses == [200, 200, 200]  # the API bucket is spent, the Resolvers one is not
    refused = get(server, FILE)
    assert refused.status_code == 429 and refused.headers["RateLimit"].startswith('"resolvers";r=0')
    assert server.limits.refused == {"api": 1, "resolvers": 1}
    assert server.limits.figures()["busiest_window"] == {"api": 2, "resolvers": 3}


def test_hfhub_waits_out_the_reset_the_header_gives(server: FakeHfServer, tmp_path: Path) -> None:
    clock = Clock()
    server.limits = HfLimits("free", time_scale=60, quota=HfQuota(api=2, resolvers=50), clock=clock)
    waits: list[float] = []
    retry = RetryPolicy(
        attempts=3, base_s=0.001, max_s=0.01, sleep=lambda s: (waits.append(s), clock.sleep(s))
    )
    hub = HfHub("zeb/w", "zeb/e", token=TOKEN, endpoint=server.url, retry=retry, cache_dir=tmp_path)
    assert hub.head("weights") is not None  # create_repo and repo_info spend the quota of 2
    clock.sleep(2.0)
    assert hub.head("weights") is not None  # 429 (3 s to the reset), waited, then served
    assert waits == [3.0]
    assert server.limits.refused["api"] == 1


def test_commits_per_repo_hour_observed_limit(server: FakeHfServer) -> None:
    clock = Clock()
    server.limits = HfLimits("free", time_scale=3600, commits_per_hour=2, clock=clock)
    api = HfApi(endpoint=server.url, token=TOKEN)
    for i in range(2):
        api.upload_file(path_or_fileobj=b"x", path_in_repo=f"c{i}.bin", repo_id="zeb/w")
    with pytest.raises(HfHubHTTPError) as err:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="c2.bin", repo_id="zeb/w")
    assert err.value.response.status_code == 429
    assert "repository commits (2 per hour)" in err.value.response.json()["error"]
    assert err.value.response.headers["RateLimit"].startswith('"api";r=')  # as observed
    assert server.limits.refused["commits"] == 1
    clock.sleep(1.0)  # the hour, at 3600x
    api.upload_file(path_or_fileobj=b"x", path_in_repo="c2.bin", repo_id="zeb/w")
    assert server.limits.commits_per_hour_landed() == {"models/zeb/w": {0: 2, 1: 1}}
