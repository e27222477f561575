"""VastFleet's offers against a fake Vast API: ranking by cost per game, the rented disk's price,
the per-worker cap and the fleet's budget, bids, vanished offers and credit.
"""

from __future__ import annotations

import pytest

from infra.fleet.base import CreditError, FleetError
from infra.fleet.memory import FleetMemory
from infra.fleet.offers import VastOffer, on_demand_dph
from tests.infra.vast.vast_helpers import market, ours

# -- offers, prices and budgets ---------------------------------------------------------------


def test_offers_rank_by_expected_cost_per_game(vast, fleet):
    ids = market(vast)
    # Priors, $/h per games/s: 4090 0.353 / 1.8 < 3090 0.203 / 1.0 < 3080 0.183 / 0.85.
    assert [o.offer_id for o in fleet.offers()] == [str(ids[g]) for g in ("4090", "3090", "3080")]
    memory = FleetMemory(
        machine_throughput={"13": 3.0},  # the 3080 machine produced very well
        gpu_throughput={"RTX 4090": 0.5},  # 4090s were measured slow
    )
    fleet.store.save_memory(memory)
    offers = fleet.offers()
    assert [o.offer_id for o in offers] == [str(ids[g]) for g in ("3080", "3090", "4090")]
    assert offers[0].expected_games_per_s == 3.0 and offers[2].expected_games_per_s == 0.5


def test_one_search_serves_every_gpu_model_and_a_whole_pass(vast, fleet):
    market(vast)
    assert fleet.up(2) == [ours(0), ours(1)]
    fleet.start(ours(5))
    assert vast.count("POST", "bundles") == 1  # Vast allows 10 searches a minute
    assert vast.last_body("POST", "bundles")["gpu_name"] == {"in": list(fleet.vast.gpu_names)}
    rented = {r["machine_id"] for r in vast.by_label(ours(0)) + vast.by_label(ours(1))}
    assert len(rented) == 2 and vast.by_label(ours(5))[0]["machine_id"] not in rented


def test_blacklisted_machines_are_never_offered_or_rented(vast, fleet):
    ids = market(vast)
    fleet.store.save_memory(FleetMemory(machine_strikes={"11": 3, "12": 2}))
    assert [o.machine for o in fleet.offers()] == ["12", "13"]
    fleet.up(3)
    assert {r.machine for r in fleet.status()} == {"12", "13"}
    assert str(ids["3090"]) not in {o.offer_id for o in fleet.offers()}


def test_offers_are_priced_at_the_rented_disk():
    # The search priced 5 GB (0.30 + 2.0 * 5 / 720); the fleet rents 24 GB.
    raw = VastOffer.model_validate(
        {"id": 1, "machine_id": 1, "gpu_name": "RTX 3090", "dph_total": 0.313889}
        | {"dph_base": 0.30, "storage_cost": 2.0, "reliability2": 0.99, "disk_space": 100}
    )
    assert on_demand_dph(raw, 24.0) == pytest.approx(0.30 + 2.0 * 24 / 720)


def test_search_prices_the_rented_disk_and_the_cap_applies_to_that_price(vast, make_fleet):
    # At 5 GB both fit under $0.35/h; at 24 GB only the second does.
    vast.add_offer(21, "RTX 3090", 0.30, storage_cost=2.0)  # 0.3139 at 5 GB, 0.3667 at 24 GB
    cheaper = vast.add_offer(22, "RTX 3090", 0.25, storage_cost=2.0)  # 0.3167 at 24 GB
    fleet = make_fleet(max_dph_per_worker=0.35)
    [offer] = fleet.offers()
    assert offer.offer_id == str(cheaper) and offer.dph == pytest.approx(0.25 + 2.0 * 24 / 720)
    assert vast.last_body("POST", "bundles")["allocated_storage"] == 24.0
    assert fleet.up(2) == [ours(0)]
    [row] = vast.by_label(ours(0))
    assert row["dph_total"] == pytest.approx(offer.dph) and row["dph_total"] <= 0.35


def test_per_worker_cap_is_never_exceeded(vast, make_fleet):
    vast.add_offer(31, "RTX 4090", 0.45)  # the best per game by far, and over the cap
    vast.add_offer(32, "RTX 3080", 0.38)
    fleet = make_fleet(max_dph_per_worker=0.40)
    assert [o.machine for o in fleet.offers()] == ["32"]
    assert fleet.up(2) == [ours(0)]
    assert {r.machine for r in fleet.status()} == {"32"}


def test_fleet_budget_counts_live_instances_and_is_never_exceeded(vast, make_fleet):
    for machine in range(41, 46):
        vast.add_offer(machine, "RTX 3090", 0.15)  # $0.1533/h each at 24 GB
    vast.add_instance(ours(0), dph_total=0.30)
    vast.add_instance(ours(1), status="exited", dph_total=1.00)  # exited: not counted
    fleet = make_fleet(max_dph_fleet=0.70)
    assert fleet.up(5) == [ours(1), ours(2)]  # $0.30 + 2 x $0.153; a third would pass $0.70
    live = [r for r in fleet.status() if r.state != "exited"]
    assert sum(r.dph for r in live) <= 0.70
    with pytest.raises(FleetError, match="no offer fits"):
        fleet.start(ours(3))


def test_an_instance_of_unknown_price_counts_at_the_worker_cap(vast, make_fleet):
    market(vast)
    vast.add_instance(ours(0), dph_total=None)
    fleet = make_fleet(max_dph_fleet=0.50, max_dph_per_worker=0.40)  # $0.10/h left, not $0.50
    assert fleet.up(3) == [] and len(vast.labels()) == 1


def test_interruptible_fleets_bid(vast, make_fleet):
    vast.add_offer(51, "RTX 3090", 0.30, min_bid=0.10)
    fleet = make_fleet(interruptible=True)
    [offer] = fleet.offers()
    assert vast.last_body("POST", "bundles")["type"] == "bid"
    assert offer.dph == pytest.approx(0.11 + 0.1 * 24 / 720)  # 10% over the minimum bid
    fleet.up(1)
    [row] = vast.by_label(ours(0))
    assert row["is_bid"] and vast.last_body("PUT", "asks")["price"] == pytest.approx(0.11)
    assert vast.last_body("PUT", "asks")["cancel_unavail"] is False  # a bid may wait its turn


def test_on_demand_is_the_default(vast, fleet):
    market(vast)
    fleet.up(1)
    assert vast.last_body("POST", "bundles")["type"] == "on-demand"
    assert vast.last_body("PUT", "asks")["price"] is None
    assert vast.last_body("PUT", "asks")["cancel_unavail"] is True


def test_a_vanished_offer_moves_on_to_the_next(vast, fleet):
    ids = market(vast)
    vast.add_fault("410", path=f"/asks/{ids['3090']}/")
    assert fleet.up(1) == [ours(0)]
    assert vast.by_label(ours(0))[0]["machine_id"] == 12


def test_lack_of_credit_is_a_credit_error(vast, fleet):
    market(vast)
    vast.lacks_credit = True
    with pytest.raises(CreditError, match="lacks credit") as err:
        fleet.up(2)
    assert "\n" not in str(err.value) and vast.labels() == []
    assert not fleet.credit_ok()  # show_user's documented balance
    vast.lacks_credit = False
    assert fleet.credit_ok()
    vast.credit = 0.0
    assert not fleet.credit_ok()
