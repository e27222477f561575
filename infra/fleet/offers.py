"""Vast.ai offers: what a fleet searches for, what each offer really costs, and which is best.

An offer is priced at the disk the fleet rents (`VastSettings.disk_gb`), never at the search's
default: the original system priced offers at 5 GB of disk, rented 24 GB, and its own cost guard
then killed the instances it had just rented. Offers are ranked by expected dollars per game:
$/h over the games/s the fleet expects from that machine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from infra.fleet.base import Offer, VastSettings
from infra.fleet.memory import FleetMemory

log = logging.getLogger("zeb.fleet")

# A prior, in games/s of one self-play worker at the default WorkerSettings, per GPU model (Vast's
# spelling). It only orders GPUs the fleet has not measured yet: once a worker on a GPU model (or
# a machine) reports games/s, FleetMemory's observed throughput replaces this guess.
DEFAULT_GAMES_PER_S: dict[str, float] = {
    "RTX 3060": 0.5,
    "RTX 3070": 0.7,
    "RTX 3080": 0.85,
    "RTX 3090": 1.0,
    "RTX 4070": 0.9,
    "RTX 4080": 1.4,
    "RTX 4090": 1.8,
    "RTX 5090": 2.3,
    "RTX A4000": 0.7,
    "RTX A5000": 0.95,
    "RTX A6000": 1.1,
    "L40S": 1.6,
    "A100 PCIE": 1.6,
    "A100 SXM4": 1.7,
    "H100 PCIE": 2.2,
}
# A GPU model neither measured nor in the table is assumed slow, so known GPUs win ties.
UNKNOWN_GPU_GAMES_PER_S = 0.4

HOURS_PER_MONTH = 720.0  # Vast quotes storage in $ per GB per month (of 30 days)
BID_MARGIN = 0.10  # interruptible: bid this much over the current minimum, so a small move
# in the market does not outbid the instance at once


class VastOffer(BaseModel):
    """One row of Vast's offer search, the fields a fleet reads.

    extra="ignore", unlike zeb's own files: Vast returns some 80 fields per offer and adds more
    over time; the ones below are validated, the rest are not ours to reject.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    machine_id: int
    gpu_name: str
    num_gpus: int = 1
    dph_total: float = Field(ge=0)  # $/h, at the disk the search was asked to price
    dph_base: float | None = Field(None, ge=0)  # $/h without storage
    storage_cost: float | None = Field(None, ge=0)  # $ per GB per month
    min_bid: float | None = Field(None, ge=0)  # $/h, interruptible only
    reliability: float | None = Field(
        None, validation_alias=AliasChoices("reliability2", "reliability")
    )
    disk_space: float | None = None  # GB the machine can give


@dataclass(frozen=True)
class PricedOffer:
    offer: Offer
    bid: float | None  # $/h to bid for an interruptible rental; None: on demand


def search_query(vast: VastSettings) -> dict[str, Any]:
    """The search filters for all the fleet's GPU models at once: Vast allows 10 searches a
    minute (search_offers.yaml), so one search serves a whole pass. The SDK adds verified,
    rentable and not rented."""
    price_field = "min_bid" if vast.interruptible else "dph_total"
    return {
        "gpu_name": {"in": list(vast.gpu_names)},
        "num_gpus": {"eq": 1},
        "reliability": {"gte": vast.min_reliability},
        "disk_space": {"gte": vast.disk_gb},
        price_field: {"lte": vast.max_dph_per_worker},
    }


def storage_dph(raw: VastOffer, disk_gb: float) -> float:
    """$/h of `disk_gb` of disk on this machine."""
    if raw.storage_cost is not None:
        return raw.storage_cost * disk_gb / HOURS_PER_MONTH
    if raw.dph_base is not None:  # the search priced the disk we asked for: the difference
        return max(raw.dph_total - raw.dph_base, 0.0)
    return 0.0


def on_demand_dph(raw: VastOffer, disk_gb: float) -> float:
    """$/h of an on-demand rental with `disk_gb` of disk.

    The search is asked to price `disk_gb` (its `allocated_storage`), so `dph_total` should be
    right already; recomputing from the base price guards against a search that priced another
    disk size. The larger of the two wins, so the budget is never under-counted.
    """
    if raw.dph_base is None:
        return raw.dph_total
    return max(raw.dph_total, raw.dph_base + storage_dph(raw, disk_gb))


def bid_price(raw: VastOffer) -> float | None:
    if raw.min_bid is None or raw.min_bid <= 0:
        return None
    return round(raw.min_bid * (1 + BID_MARGIN), 4)


def expected_games_per_s(memory: FleetMemory, machine: str, gpu: str) -> float:
    """Observed games/s of this machine, else of this GPU model, else the prior."""
    for table, key in ((memory.machine_throughput, machine), (memory.gpu_throughput, gpu)):
        if table.get(key, 0.0) > 0:
            return table[key]
    return DEFAULT_GAMES_PER_S.get(gpu, UNKNOWN_GPU_GAMES_PER_S)


def parse_offer(row: object) -> VastOffer | None:
    """A search row as a VastOffer, or None (with a log line) when it lacks what pricing needs."""
    try:
        return VastOffer.model_validate(row)
    except ValidationError as err:
        first = err.errors()[0]  # loc and msg only: the input may be a whole provider row
        where = ".".join(str(p) for p in first["loc"]) or "(row)"
        log.info("vast: skipping a malformed offer (%s: %s)", where, first["msg"])
        return None


def acceptable(raw: VastOffer, vast: VastSettings) -> bool:
    """The fleet's own filters, checked again on what the search returned."""
    return (
        raw.gpu_name in vast.gpu_names
        and raw.num_gpus == 1
        and raw.reliability is not None
        and raw.reliability >= vast.min_reliability
        and raw.disk_space is not None
        and raw.disk_space >= vast.disk_gb
    )


def price_offer(raw: VastOffer, vast: VastSettings, memory: FleetMemory) -> PricedOffer | None:
    """The offer at the fleet's disk and rental kind; None if it cannot be priced that way."""
    if vast.interruptible:
        bid = bid_price(raw)
        if bid is None:
            return None
        dph = bid + storage_dph(raw, vast.disk_gb)  # the bid pays for the GPU, not the disk
    else:
        bid, dph = None, on_demand_dph(raw, vast.disk_gb)
    machine = str(raw.machine_id)
    offer = Offer(
        offer_id=str(raw.id),
        machine=machine,
        gpu=raw.gpu_name,
        dph=dph,
        expected_games_per_s=expected_games_per_s(memory, machine, raw.gpu_name),
    )
    return PricedOffer(offer, bid)


def rank_offers(rows: list[object], vast: VastSettings, memory: FleetMemory) -> list[PricedOffer]:
    """Rentable offers, cheapest expected cost per game first; over-priced and blacklisted
    machines are left out."""
    ranked: dict[str, PricedOffer] = {}
    for row in rows:
        raw = parse_offer(row)
        if raw is None or not acceptable(raw, vast) or memory.blacklisted(str(raw.machine_id)):
            continue
        priced = price_offer(raw, vast, memory)
        if priced is not None and priced.offer.dph <= vast.max_dph_per_worker:
            ranked[priced.offer.offer_id] = priced
    return sorted(ranked.values(), key=_cost_order)


def _cost_order(priced: PricedOffer) -> tuple[float, float, str]:
    offer = priced.offer
    return (offer.dollars_per_1000_games, offer.dph, offer.offer_id)
