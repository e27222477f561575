"""VastFleet against a fake that enforces Vast's published API rules (fake_vast_rules.py): a
fleet of six beside twenty other instances, under faults, and the pacing that keeps it within
the documented limits (fixtures in conftest.py; limits scaled to PACE on both sides).
"""

from __future__ import annotations

import threading

import pytest
from vastai import VastAI

from infra.fleet.health import health_pass
from infra.fleet.vast import StillBilling
from tests.infra.vast.vast_helpers import MARKET, VAST_KEY, ours

OTHERS = 20


def many_offers(vast, n: int = 10) -> None:
    for machine in range(n):
        vast.add_offer(100 + machine, MARKET.gpu_names[machine % 3], 0.15 + 0.01 * machine)


def others_on_the_account(vast) -> dict[int, str | None]:
    labels = [ours(i, experiment="b") for i in range(5)] + [
        ours(i, role="evalaux") for i in range(5)
    ]
    labels += [f"notebook-{i}" for i in range(OTHERS - len(labels) - 1)] + [None]
    return {vast.add_instance(label): label for label in labels}


def assert_left_as_found(vast, others: dict[int, str | None]) -> None:
    rows = {r["id"]: r.get("label") for r in vast.instances.values() if isinstance(r, dict)}
    assert rows == others


def refused_twice(vast) -> list[str]:
    """Endpoints whose documented limit the fake enforced more than once (a client that learns
    from a refusal is refused at most once)."""
    endpoints = [endpoint for _, endpoint in vast.rate_limited]
    return sorted({e for e in endpoints if endpoints.count(e) > 1})


def test_six_workers_beside_twenty_other_instances_keep_to_every_documented_rule(vast, make_fleet):
    fleet = make_fleet(target=6)
    many_offers(vast)
    others = others_on_the_account(vast)
    assert len(fleet.up(6)) == 6
    records = fleet.status()
    assert sorted(r.label for r in records) == [ours(i) for i in range(6)]
    report = health_pass(fleet, fleet.store)
    assert not report.errors and not [v for v in report.verdicts if v.action]
    assert sorted(fleet.down()) == [ours(i) for i in range(6)]
    assert fleet.status() == []
    assert_left_as_found(vast, others)
    assert vast.count("PUT", r"^/api/v0/asks/") == 6
    assert vast.count("POST", "bundles") == 1  # one search for the whole fleet
    assert vast.violations == [] and vast.rate_limited == []
    assert fleet.calls["create_instance"] == 6 and fleet.calls["destroy_instance"] == 6


CREATE, LISTING = r"^/api/v0/asks/", r"^/api/v1/instances/"
FAULTS = {  # (kind, path, times); FAST retries a 5xx once, a 429 is waited out
    "429s": [("429", CREATE, 2), ("429", LISTING, 2), ("429", "bundles", 1)],
    "5xx": [("503", CREATE, 1), ("502", LISTING, 1), ("500", "bundles", 1)],
    "hangs": [("hang", CREATE, 1), ("hang", LISTING, 1)],
}


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_the_same_under_injected_faults(vast, make_fleet, kind):
    fleet = make_fleet(target=6)
    many_offers(vast)
    others = others_on_the_account(vast)
    for fault, path, times in FAULTS[kind]:
        vast.add_fault(fault, path=path, times=times, delay_s=1.5)
    vast.add_fault("502" if kind != "hangs" else "hang", path=r"/instances/\d+/$", method="DELETE")
    assert len(fleet.up(6)) == 6
    assert len([r for r in fleet.status() if r.state == "running"]) == 6
    health_pass(fleet, fleet.store)
    assert len(fleet.down()) == 6
    assert_left_as_found(vast, others)
    assert len([b for m, p, b in vast.bodies if m == "PUT" and "/asks/" in p]) >= 6
    live = [r for r in vast.instances.values() if str(r.get("label")).startswith("zeb-a-selfplay")]
    assert live == [] and vast.violations == [] and refused_twice(vast) == []


def test_a_create_refused_for_another_client_s_pace_waits_out_the_penalty(vast, fleet):
    """Another program on the same key creates just before: Vast refuses our create (threshold
    and a penalty, in plain text); the fleet waits as asked and goes on."""
    many_offers(vast)
    other = VastAI(api_key=VAST_KEY, server_url=vast.url, retry=1, raw=True, quiet=True)
    offer = max(vast.offers)
    other.create_instance(offer, image=MARKET.image, disk=10, label="someone-else")
    assert len(fleet.up(2)) == 2
    assert fleet.api.refusals == 1 and refused_twice(vast) == []
    assert [v for v in vast.violations if "rate limited" not in v] == []


def test_down_destroys_until_none_is_listed_and_names_what_still_bills(vast, fleet):
    many_offers(vast)
    fleet.up(3)
    stuck = vast.by_label(ours(1))[0]["id"]
    vast.add_fault("500", path=rf"/instances/{stuck}/$", method="DELETE", times=1000)
    with pytest.raises(StillBilling) as failed:
        fleet.down()
    message = str(failed.value)
    assert f"instance {stuck} ({ours(1)}, $" in message and "NOT destroyed" in message
    assert "/h" in message and "HTTP 500" in message
    assert [i.id for i in failed.value.instances] == [stuck]
    assert vast.labels() == [ours(1)]


def test_a_log_not_uploaded_yet_leaves_the_heartbeat_unknown(vast, fleet):
    instance = vast.add_instance(ours(0))
    vast.set_logs(instance, "not read")
    vast.log_upload_s = 10_000.0  # never within the fleet's budget for logs
    [record] = fleet.status()
    assert (record.state, record.log_read, record.heartbeat) == ("running", False, None)


def test_pacing_is_shared_by_the_fleets_of_one_key(vast, make_fleet):
    """A health pass walks the selfplay and evalaux fleets of one key: Vast counts them as one
    identity, so their calls are paced together."""
    many_offers(vast)
    fleets = [make_fleet(), make_fleet(role="evalaux")]
    threads = [threading.Thread(target=f.up, args=(3,)) for f in fleets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(vast.labels()) == 6 and vast.rate_limited == [] and vast.violations == []
