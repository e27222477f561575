"""VastFleet against a failing Vast API: retries, one-line errors in bounded time, keys and
timeouts, tokens that never leak, and the fake server's own thread hygiene.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
import requests
from pydantic import SecretStr

from infra.fleet.base import FleetError
from infra.fleet.health import health_pass
from tests.fakes.fake_vast_server import FakeVastServer
from tests.infra.vast.vast_helpers import (
    HF_TOKEN,
    VAST_KEY,
    beat,
    market,
    ours,
    timed,
)

# -- faults -----------------------------------------------------------------------------------


def test_transient_errors_are_retried(vast, fleet):
    market(vast)
    vast.add_fault("429", path="/instances/$", method="GET")
    vast.add_fault("503", path="bundles")
    vast.add_fault("reset", path="users")
    assert fleet.up(1) == [ours(0)]
    assert fleet.credit_ok()
    assert vast.count("GET", "/api/v1/instances/") == 2


@pytest.mark.parametrize(
    ("kind", "path", "call", "expected"),
    [
        ("500", "/api/v1/instances/", "status", "show_instances: HTTP 500"),
        ("429", "/api/v1/instances/", "down", "show_instances: HTTP 429"),
        ("malformed", "/api/v1/instances/", "status", "show_instances: malformed"),
        ("hang", "/api/v1/instances/", "status", "show_instances: no answer in time"),
        ("reset", "bundles", "offers", "search_offers: connection failed"),
        ("malformed", "bundles", "offers", "search_offers: malformed"),
        ("hang", "users", "credit_ok", "show_user: no answer in time"),
        ("502", "/api/v0/instances/\\d+/$", "down", "destroy_instance: HTTP 502"),
    ],
)
def test_faults_become_one_line_fleet_errors_quickly(vast, fleet, kind, path, call, expected):
    market(vast)
    vast.add_instance(ours(0))
    vast.add_fault(kind, path=path, times=10)
    error, seconds = timed(getattr(fleet, call))
    assert isinstance(error, FleetError) and expected in str(error), error
    assert seconds < 5.0 and "\n" not in str(error) and VAST_KEY not in str(error)


def test_a_create_without_an_answer_is_sent_again_only_when_nothing_was_rented(vast, fleet):
    market(vast)
    vast.add_fault("hang", path="/asks/")
    assert fleet.up(1) == [ours(0)]  # the listing showed nothing rented: one more create
    assert vast.count("PUT", "/asks/") == 2 and len(vast.by_label(ours(0))) == 1
    vast.add_fault("400", path="/asks/")  # a refusal says it rented nothing: not sent again
    with pytest.raises(FleetError, match="HTTP 400"):
        fleet.start(ours(1))
    assert vast.count("PUT", "/asks/") == 3
    vast.add_fault("429", path="/asks/")  # refused for the pace: sent again once allowed
    assert fleet.up(2) == [ours(1)]


def test_hanging_logs_leave_the_heartbeat_unknown(vast, fleet, caplog):
    instance = vast.add_instance(ours(0))
    vast.set_logs(instance, beat(ours(0), 1, 1.0))
    vast.add_fault("hang", path="request_logs", times=10, delay_s=4.0)
    with caplog.at_level(logging.INFO, logger="zeb.fleet"):
        records, seconds = timed(fleet.status)
    assert seconds < 3.5 and [r.heartbeat for r in records] == [None]
    assert "logs" in caplog.text


def test_a_wrong_or_missing_key_is_a_fleet_error(vast, make_fleet, settings):
    wrong = settings.model_copy(update={"vast_api_key": SecretStr("not-the-key")})
    with pytest.raises(FleetError, match="show_instances: HTTP 401"):
        make_fleet(settings=wrong).status()
    with pytest.raises(FleetError, match="VAST_API_KEY is not set"):
        make_fleet(settings=settings.model_copy(update={"vast_api_key": None}))


def test_the_client_timeout_comes_from_the_settings(fleet):
    assert fleet.sdk.client.timeout == 1.0 and fleet.sdk.client.retry == 1


def test_the_fake_server_leaves_no_thread_behind():
    before, answers = set(threading.enumerate()), []

    def ask(url: str) -> None:
        try:
            answers.append(requests.get(url, timeout=5).status_code)
        except requests.RequestException as exc:
            answers.append(type(exc).__name__)

    with FakeVastServer(api_key=VAST_KEY) as server:
        server.add_fault("hang", path="users", delay_s=30.0)
        asking = threading.Thread(target=ask, args=(f"{server.url}/api/v0/users/current",))
        asking.start()
        time.sleep(0.2)  # the server holds the request
    asking.join(timeout=5)
    assert answers == ["ConnectionError"]  # closing the server let it go at once
    assert set(threading.enumerate()) <= before


# -- secrets ----------------------------------------------------------------------------------


def test_tokens_never_reach_logs_output_records_or_errors(vast, make_fleet, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    fleet = make_fleet()
    market(vast)
    seen: list[str] = [repr(fleet)]
    labels = fleet.up(2)
    leaky = vast.by_label(labels[0])[0]["id"]
    vast.set_logs(leaky, f"env: HF_TOKEN={HF_TOKEN}\nerror: bad token {HF_TOKEN}\n")
    seen += [repr(r) for r in fleet.status()] + [repr(o) for o in fleet.offers()]
    market(vast)
    fleet = make_fleet()  # a new pass searches offers again
    fleet.replace(labels[1])
    faults = [
        ("500", "/api/v1/instances/", fleet.status, 2),
        ("malformed", "bundles", make_fleet().offers, 1),  # a new pass: a new search
        ("hang", "users", fleet.credit_ok, 2),
    ]
    for kind, path, call, times in faults:
        vast.add_fault(kind, path=path, times=times)
        seen.append(repr(timed(call)[0]))
    vast.lacks_credit = True
    vast.set_status(leaky, "exited", f"worker died; HF_TOKEN={HF_TOKEN}")
    seen += [repr(r) for r in fleet.status()] + [repr(timed(lambda: fleet.start(ours(7)))[0])]
    # the pass replaces the exited worker and runs into the lack of credit
    seen.append(repr(health_pass(fleet, fleet.store)))
    seen.append(repr(timed(fleet.down)[0]))
    out, err = capfd.readouterr()
    text = "\n".join([*seen, caplog.text, out, err])
    assert "error: bad token ***" in text and "worker died; HF_TOKEN=***" in text  # scrubbed
    assert "lacks credit" in text and "HTTP 500" in text and "malformed" in text
    for secret in (VAST_KEY, HF_TOKEN):
        assert secret not in text
