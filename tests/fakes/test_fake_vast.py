"""The fake Vast API follows Vast's documentation: a client written from the docs alone passes it,
and each documented rule (limits, pages, validation, launch semantics, logs) is enforced.

Durations are the documented ones times each server's `time_scale`, so the file runs in seconds.
"""

from __future__ import annotations

import base64
import json
import time
from collections import deque
from collections.abc import Callable

import pytest
import requests
import vastai

from tests.fakes.fake_vast_listing import DOCUMENTED_FIELDS
from tests.fakes.fake_vast_rules import ACTUAL_STATUSES
from tests.fakes.fake_vast_server import FakeVastServer

KEY = "vastKeyFakeTest0123456789"
IMAGE = "ghcr.io/zeb-ai/zeb-worker:test"
ENTRYPOINT = ["/opt/zeb/onstart.sh"]


def pause(vast: FakeVastServer, documented_s: float) -> None:
    """Wait out a documented duration at the server's scale."""
    time.sleep(documented_s * vast.time_scale + 0.01)


def call(vast: FakeVastServer, method: str, path: str, body: object = None, **query: object):
    params = {k: v if isinstance(v, str | int) else json.dumps(v) for k, v in query.items()}
    headers = {"Authorization": f"Bearer {KEY}"}
    return requests.request(
        method, vast.url + path, headers=headers, json=body, params=params, timeout=5
    )


def create(vast: FakeVastServer, offer: int, **body: object) -> requests.Response:
    return call(vast, "PUT", f"/api/v0/asks/{offer}/", {"image": IMAGE, "disk": 16, **body})


# -- a client written from the docs alone --------------------------------------------------------

# What a client reads in each endpoint's x-rate-limit (api-reference/openapi/yaml/): an interval
# per method and endpoint, the create's penalty, the search's 10 a minute.
DOC_LIMITS = {
    "PUT /api/v0/asks/{id}/": (4.5, 0, 0.0),
    "DELETE /api/v0/instances/{id}/": (3.0, 0, 0.0),
    "PUT /api/v0/instances/{id}/": (1.0, 0, 0.0),
    "GET /api/v1/instances/": (1.0, 0, 0.0),
    "POST /api/v0/bundles/": (0.0, 10, 60.0),
}


class DocsClient:
    """The SDK, paced by the documented limits from the end of the previous call (a request
    that ended had arrived): nothing here is read from our own client."""

    def __init__(self, vast: FakeVastServer) -> None:
        self.sdk = vastai.VastAI(api_key=KEY, server_url=vast.url, retry=1, raw=True, quiet=True)
        self.scale = vast.time_scale
        self._ready: dict[str, float] = {}
        self._ends: dict[str, deque[float]] = {}

    def call(self, endpoint: str, fn: Callable, *args, **kw):
        interval, calls, period = DOC_LIMITS.get(endpoint, (0.0, 0, 0.0))
        ends = self._ends.setdefault(endpoint, deque(maxlen=calls or 1))
        ready = self._ready.get(endpoint, 0.0)
        if calls and len(ends) == calls:
            ready = max(ready, ends[0] + period * self.scale)
        time.sleep(max(0.0, ready - time.monotonic()))
        try:
            return fn(*args, **kw)
        finally:
            self._ready[endpoint] = time.monotonic() + interval * self.scale
            ends.append(time.monotonic())

    def instances(self) -> list[dict]:
        params: dict = {"limit": 25, "order_by": [{"col": "id", "dir": "asc"}]}
        rows: list[dict] = []
        while True:
            page = self.call("GET /api/v1/instances/", self.sdk.show_instances_v1, dict(params))
            rows += page["instances"]
            if not page["next_token"]:
                return rows
            params["after_token"] = page["next_token"]


def test_a_client_written_from_the_docs_passes():
    with FakeVastServer(KEY, time_scale=0.05) as vast:
        vast.register_image(IMAGE, entrypoint=ENTRYPOINT, cmd=["--help"])
        for machine, gpu, dph in [(1, "RTX 3090", 0.2), (2, "RTX 4090", 0.35), (3, "A100", 1.1)]:
            vast.add_offer(machine, gpu, dph), vast.add_offer(machine + 10, gpu, dph + 0.01)
        for i in range(27):
            vast.add_instance(f"someone-else-{i}")
        client = DocsClient(vast)
        offers = []
        for gpus in (["RTX_3090", "RTX_4090"], ["A100"]):
            query = {"gpu_name": {"in": gpus}, "num_gpus": {"gte": 1}}
            offers += client.call(
                "POST /api/v0/bundles/",
                client.sdk.search_offers,
                query=query,
                type="on-demand",
                order="dph_total",
                limit=10,
                storage=24,
            )
        assert len(offers) == 6 and offers[0]["gpu_name"] == "RTX 3090"
        made = []
        for n, offer in enumerate(offers[:3]):
            answer = client.call(
                "PUT /api/v0/asks/{id}/",
                client.sdk.create_instance,
                offer["id"],
                image=IMAGE,
                disk=24,
                env={"HF_TOKEN": "hf_x", "-p 8000:8000": "1"},
                label=f"docs-client-{n}",
                runtype="args",
                args=["--worker", str(n)],
            )
            assert answer["success"] is True
            made.append(answer["new_contract"])
        rows = client.instances()
        assert len(rows) == 30 and len({r["id"] for r in rows}) == 30
        for n, instance in enumerate(made):
            client.call(
                "PUT /api/v0/instances/{id}/", client.sdk.label_instance, instance, f"docs-{n}"
            )
            vast.set_logs(instance, "".join(f"line {i}\n" for i in range(200)))
            text = client.call("logs", client.sdk.logs, instance, tail="100")
            assert text.splitlines()[0] == "line 100" and len(text.splitlines()) == 100
        assert vast.launches[made[0]].argv == [*ENTRYPOINT, "--worker", "0"]
        for instance in made:
            answer = client.call(
                "DELETE /api/v0/instances/{id}/", client.sdk.destroy_instance, instance
            )
            assert answer["success"] is True
        assert len(client.instances()) == 27
        assert client.call("show_user", client.sdk.show_user)["balance"] > 0
        assert vast.violations == [] and vast.rate_limited == []


# -- the listing ---------------------------------------------------------------------------------


def test_listing_pages_hold_at_most_25_behind_opaque_tokens():
    with FakeVastServer(KEY, time_scale=0.01) as vast:
        ids = [
            vast.add_instance(f"x-{i}", gpu_name="RTX 3090" if i % 2 else "A100") for i in range(30)
        ]
        path = "/api/v1/instances/"
        over = call(vast, "GET", path, limit=26)
        assert over.status_code == 400 and over.json()["error"] == "invalid_request"
        pause(vast, 1.0)
        assert call(vast, "GET", path, limit=0).json()["instances_found"] == 5  # "treated as 5"
        pause(vast, 1.0)
        first = call(vast, "GET", path).json()  # default 25
        assert [r["id"] for r in first["instances"]] == ids[:25]
        assert first["total_instances"] == 30 and first["label_counts"]["x-0"] == 1
        forged = base64.b64encode(json.dumps({"values": {"id": ids[24]}}).encode()).decode()
        for token in (forged, str(ids[24])):
            pause(vast, 1.0)
            bad = call(vast, "GET", path, after_token=token)
            assert bad.status_code == 400 and bad.json()["error"] == "invalid_token"
        pause(vast, 1.0)
        rest = call(vast, "GET", path, after_token=first["next_token"]).json()
        assert [r["id"] for r in rest["instances"]] == ids[25:] and rest["next_token"] is None
        pause(vast, 1.0)
        desc = [{"col": "id", "dir": "desc"}]
        other_order = call(vast, "GET", path, after_token=first["next_token"], order_by=desc)
        assert other_order.status_code == 400  # a token belongs to the order it was made in
        for computed in ("dph_total", "num_gpus"):
            pause(vast, 1.0)
            refused = call(vast, "GET", path, select_filters={computed: {"gt": 0}})
            assert refused.status_code == 400
        pause(vast, 1.0)
        wanted = {"gpu_name": {"in": ["A100"]}, "id": {"gte": ids[10]}}
        cols = ["id", "label", "no_such_column"]
        page = call(vast, "GET", path, select_filters=wanted, select_cols=cols).json()
        assert [r["id"] for r in page["instances"]] == ids[10::2]
        assert page["instances"][0] == {"id": ids[10], "label": "x-10", "no_such_column": None}
        assert len(vast.violations) == 6 and all("docs:" in v for v in vast.violations)
        assert vast.rate_limited == []


def test_listing_rows_look_like_vasts_and_the_launch_is_kept_aside():
    with FakeVastServer(KEY, time_scale=0.01) as vast:
        offer = vast.add_offer(1, "RTX 3090", 0.2)
        instance = create(vast, offer, env={"HF_TOKEN": "hf_x"}, runtype="args").json()
        made = instance["new_contract"]
        page = call(vast, "GET", "/api/v1/instances/").json()
        documented = "success instances_found total_instances label_counts next_token instances"
        assert set(page) == set(documented.split())  # show_instances.yaml 200
        (row,) = page["instances"]
        assert set(row) <= DOCUMENTED_FIELDS and "launch" not in row
        assert row["image_runtype"] == "args" and row["extra_env"] == [["HF_TOKEN", "hf_x"]]
        assert vast.env_of(made) == {"HF_TOKEN": "hf_x"} and made in vast.launches
        for status in ACTUAL_STATUSES:
            vast.set_status(made, status)
        with pytest.raises(ValueError):
            vast.set_status(made, "booting")


# -- rate limits ---------------------------------------------------------------------------------


def test_creates_back_to_back_are_refused_in_plain_text_then_penalized():
    with FakeVastServer(KEY, time_scale=0.1) as vast:
        offers = [vast.add_offer(i, "RTX 3090", 0.2) for i in range(4)]
        assert create(vast, offers[0]).status_code == 200
        second = create(vast, offers[1])
        assert second.status_code == 429 and "Retry-After" not in second.headers
        assert second.headers["Content-Type"] == "text/plain"
        assert second.text == "API requests too frequent: endpoint threshold=4.5"
        pause(vast, 4.5)  # past the interval, within the 12 s penalty
        assert create(vast, offers[1]).status_code == 429
        pause(vast, 12.0)  # the penalty runs from the last refusal
        assert create(vast, offers[1]).status_code == 200
        trips = [where for _, where in vast.rate_limited]
        assert trips == ["PUT /api/v0/asks/{id}/"] * 2
        assert all("create_instance.yaml x-rate-limit" in v for v in vast.violations)


def test_label_and_destroy_share_a_path_but_not_a_limit():
    with FakeVastServer(KEY, time_scale=0.5) as vast:
        a, b, c = (vast.add_instance(f"x-{i}") for i in range(3))
        assert call(vast, "PUT", f"/api/v0/instances/{a}/", {"label": "y"}).status_code == 200
        assert call(vast, "DELETE", f"/api/v0/instances/{b}/", {}).status_code == 200
        label = call(vast, "PUT", f"/api/v0/instances/{a}/", {"state": "stopped"})
        assert label.status_code == 429 and label.text.endswith("threshold=1.0")
        destroy = call(vast, "DELETE", f"/api/v0/instances/{c}/", {})
        assert destroy.status_code == 429 and destroy.text.endswith("threshold=3.0")
        pause(vast, 1.0)
        assert call(vast, "PUT", f"/api/v0/instances/{a}/", {"label": "z"}).status_code == 200
        assert [w for _, w in vast.rate_limited] == [
            "PUT /api/v0/instances/{id}/",
            "DELETE /api/v0/instances/{id}/",
        ]


def test_the_eleventh_search_within_a_minute_is_refused():
    with FakeVastServer(KEY, time_scale=0.04) as vast:
        vast.add_offer(1, "RTX 3090", 0.2)
        body = {"gpu_name": {"in": ["RTX 3090"]}, "type": "ondemand", "limit": 5}
        for _ in range(10):
            assert call(vast, "POST", "/api/v0/bundles/", body).status_code == 200
        refused = call(vast, "POST", "/api/v0/bundles/", body)
        assert refused.status_code == 429 and refused.text == "API requests too frequent"
        pause(vast, 60.0)
        assert len(call(vast, "POST", "/api/v0/bundles/", body).json()["offers"]) == 1


def test_an_injected_429_is_a_fault_not_a_rule():
    with FakeVastServer(KEY) as vast:
        vast.add_fault("429", path="/api/v1/instances/")
        assert call(vast, "GET", "/api/v1/instances/").status_code == 429
        assert vast.rate_limited == [] and vast.violations == []


# -- logs, the user, the key ---------------------------------------------------------------------


def test_a_log_url_answers_404_until_the_upload_is_done():
    with FakeVastServer(KEY, log_upload_s=0.3) as vast:
        instance = vast.add_instance("x")
        vast.set_logs(instance, "one\ntwo\nthree\n")
        answer = call(vast, "PUT", f"/api/v0/instances/request_logs/{instance}/", {"tail": "2"})
        url = answer.json()["result_url"]
        assert requests.get(url, timeout=5).status_code == 404
        time.sleep(0.35)
        ready = requests.get(url, timeout=5)
        assert ready.status_code == 200 and ready.text == "two\nthree\n"
        # the documented path has no trailing slash; a missing instance is a 404
        missing = call(vast, "PUT", "/api/v0/instances/request_logs/1", {})
        assert missing.status_code == 404 and missing.json()["error"] == "invalid_id"


def test_show_user_has_the_documented_fields_and_a_bad_key_is_refused():
    with FakeVastServer(KEY) as vast:
        user = call(vast, "GET", "/api/v0/users/current/").json()
        assert set(user) == {"id", "key_id", "email", "balance", "ssh_key", "sid"}
        assert KEY not in json.dumps(user) and user["balance"] == vast.credit
        vast.lacks_credit = True
        assert call(vast, "GET", "/api/v0/users/current").json()["balance"] == 0.0
        offer = vast.add_offer(1, "RTX 3090", 0.2)
        assert create(vast, offer).status_code == 400
        bad = requests.get(vast.url + "/api/v1/instances/", timeout=5)
        assert bad.status_code == 401 and bad.json()["success"] is False
        search = requests.post(vast.url + "/api/v0/bundles/", json={}, timeout=5)
        assert search.status_code == 404  # search_offers.yaml documents a 404 for a bad key
        unknown = call(vast, "GET", "/api/v0/instances/")
        assert unknown.status_code == 404
        assert len(vast.violations) == 3
