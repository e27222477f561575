"""The health pass against a fake Vast API: it replaces exited workers, fills the target, waits
for credit and survives a failing API (fixtures in conftest.py).
"""

from __future__ import annotations

from infra.fleet.health import health_pass
from tests.infra.vast.vast_helpers import market, ours, timed

# -- the health pass against the fake ---------------------------------------------------------


def test_health_pass_replaces_an_exited_worker_and_fills_the_target(vast, fleet):
    market(vast)
    dead = vast.add_instance(ours(0), status="exited", machine_id=77)
    report = health_pass(fleet, fleet.store)
    assert not report.errors, report.errors
    live = [r for r in fleet.status() if r.state in ("booting", "running")]
    assert sorted(r.label for r in live) == [ours(0), ours(1)]
    assert str(dead) not in {r.provider_id for r in fleet.status()}
    assert fleet.store.load_memory().machine_strikes == {"77": 1}


def test_health_pass_waits_for_credit_and_survives_a_failing_api(vast, fleet):
    market(vast)
    vast.lacks_credit = True
    health_pass(fleet, fleet.store)
    memory = fleet.store.load_memory()
    assert memory.credit_wait_until is not None and "lacks credit" in memory.credit_message
    vast.add_fault("503", path="/api/v1/instances/", times=10)
    report, seconds = timed(lambda: health_pass(fleet, fleet.store))
    assert seconds < 5.0 and any("HTTP 503" in e for e in report.errors)
