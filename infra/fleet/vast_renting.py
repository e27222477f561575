"""Renting Vast machines for a fleet: the offers (one search a pass), the budget, the create
request and its label, and destroying. VastFleet (`vast.py`) decides what to rent and stop.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from vastai import VastAI
from vastai.api.instances import build_create_instance_payload

from infra.fleet.base import CreditError, FleetError, FleetSpec, WorkerLabel
from infra.fleet.memory import FleetStore
from infra.fleet.offers import PricedOffer, rank_offers, search_query
from infra.fleet.vast_api import VastApi, VastHttpError, VastInstance
from infra.fleet.vast_launch import LaunchRequest, render_launch
from infra.fleet.vast_listing import list_instances
from infra.settings import Settings

log = logging.getLogger("zeb.fleet")

OFFERS_LIMIT = 200  # search results, cheapest first, over all the fleet's GPU models
OFFERS_FRESH_S = 60.0  # one search serves every start of a pass within this long
OFFER_TRIES = 5  # offers tried per worker when offers vanish (rented by someone else first)


@dataclass(frozen=True)
class PlannedWorker:
    """A worker `up` would start: the offer it would rent and the request it would send."""

    label: str
    offer: PricedOffer
    request: LaunchRequest

    @property
    def path(self) -> str:
        return f"PUT /api/v0/asks/{self.offer.offer.offer_id}/"

    def body(self) -> dict[str, object]:
        """The JSON body the SDK sends for this create, secrets masked."""
        masked = self.request.masked()
        return build_create_instance_payload(**_create_kwargs(masked, self.offer))


class VastRenter:
    """Rents and destroys instances for one fleet; its offer search serves a whole pass."""

    def __init__(
        self, api: VastApi, sdk: VastAI, spec: FleetSpec, settings: Settings, store: FleetStore
    ) -> None:
        assert spec.vast is not None  # checked by VastFleet
        self.api, self.sdk = api, sdk
        self.spec, self.vast, self.settings, self.store = spec, spec.vast, settings, store
        self._offer_rows: tuple[float, list[object]] | None = None  # (searched at, rows)
        self._rented: set[str] = set()  # offer ids rented (or found gone) by this renter

    def plan(self, owned: list[VastInstance], labels: list[WorkerLabel]) -> list[PlannedWorker]:
        """What renting `labels` would rent and send, renting nothing."""
        budget = self.budget(owned)
        candidates = self.priced_offers()
        planned = []
        for label in labels:
            fitting = [c for c in candidates if c.offer.dph <= budget.left + 1e-9]
            if not fitting:
                break
            request = render_launch(self.spec, self.settings, label)
            planned.append(PlannedWorker(str(label), fitting[0], request))
            candidates.remove(fitting[0])
            budget.left -= fitting[0].offer.dph
        return planned

    def budget(self, owned: list[VastInstance]) -> _Budget:
        return _Budget(self.vast.max_dph_fleet - _live_dph(owned, self.vast.max_dph_per_worker))

    def no_offer_reason(self, budget: _Budget, candidates: list[PricedOffer]) -> str:
        if not candidates:
            return "no offer left that matches the GPUs, reliability, disk and $/h a worker"
        return (
            f"no offer fits the ${max(budget.left, 0):.3f}/h left of the fleet's "
            f"${self.vast.max_dph_fleet:.2f}/h (at most ${self.vast.max_dph_per_worker:.2f}/h "
            "a worker)"
        )

    def rent(self, label: str, candidates: list[PricedOffer], budget: _Budget) -> bool:
        """Rent the best offer within budget for `label` (offers used or gone leave the list).

        A create that failed without an answer that says so (a timeout, a 5xx) may have rented:
        the listing decides, so a worker is never rented twice and never left unrented."""
        request = render_launch(self.spec, self.settings, WorkerLabel.parse(label))
        for _ in range(OFFER_TRIES):
            fitting = [c for c in candidates if c.offer.dph <= budget.left + 1e-9]
            if not fitting:
                return False
            choice = fitting[0]
            candidates.remove(choice)
            self._rented.add(choice.offer.offer_id)  # rented or gone: not offered again
            try:
                self._create(request, choice)
            except CreditError:
                raise
            except VastHttpError as exc:
                if exc.status in (404, 410):  # this offer is gone: try the next
                    offer_id = choice.offer.offer_id
                    log.info("vast: offer %s is gone (%s); trying the next", offer_id, exc)
                    continue
                if exc.status < 500:
                    raise
                if not self._rented_anyway(label, exc):
                    self._offer_again(choice, candidates)
                    continue
            except FleetError as exc:  # no answer: it may have rented
                if not self._rented_anyway(label, exc):
                    self._offer_again(choice, candidates)
                    continue
            budget.left -= choice.offer.dph
            return True
        return False

    def _offer_again(self, choice: PricedOffer, candidates: list[PricedOffer]) -> None:
        """A create that rented nothing for want of an answer: the offer is still good."""
        candidates.insert(0, choice)
        self._rented.discard(choice.offer.offer_id)

    def _rented_anyway(self, label: str, failure: FleetError) -> bool:
        """After a create with no clear answer: is `label` on the account now?"""
        listed = [i for i in list_instances(self.api, self.sdk) if i.label == label and i.live]
        log.info(
            "vast: create for %s failed (%s); %s",
            label,
            failure,
            "it rented anyway" if listed else "nothing rented, trying again",
        )
        return bool(listed)

    def _create(self, request: LaunchRequest, priced: PricedOffer) -> None:
        offer = priced.offer
        answer = self.api.call(
            "create_instance",
            self.sdk.create_instance,
            int(offer.offer_id),
            **_create_kwargs(request.sdk_kwargs(), priced),
            idempotent=False,
        )
        instance_id = answer.get("new_contract") if isinstance(answer, dict) else None
        if not isinstance(instance_id, int):
            raise FleetError(f"vast create_instance for {request.label}: no instance id")
        self._confirm_label(instance_id, request.label)
        log.info(
            "vast: started %s as instance %d on machine %s (%s, $%.3f/h, offer %s)",
            request.label,
            instance_id,
            offer.machine,
            offer.gpu,
            offer.dph,
            offer.offer_id,
        )

    def _confirm_label(self, instance_id: int, label: str) -> None:
        """Set the label again: an unlabelled instance is invisible to every fleet (status,
        down) and would bill until someone notices. A failure here is only logged: the create
        carried the label too."""
        try:
            self.api.call("label_instance", self.sdk.label_instance, instance_id, label)
        except FleetError as exc:
            log.warning("vast: could not confirm the label of instance %d: %s", instance_id, exc)

    def destroy(self, instance_id: str, label: str) -> None:
        try:
            self.api.call("destroy_instance", self.sdk.destroy_instance, int(instance_id))
        except VastHttpError as exc:
            if exc.status != 404:
                raise
            log.info("vast: instance %s (%s) was gone already", instance_id, label)
            return
        except ValueError:
            raise FleetError(f"{label}: {instance_id!r} is not a Vast instance id") from None
        log.info("vast: destroyed instance %s (%s)", instance_id, label)

    def priced_offers(self) -> list[PricedOffer]:
        rows = [r for r in self._offer_search() if _offer_id(r) not in self._rented]
        return rank_offers(rows, self.vast, self.store.load_memory())

    def _offer_search(self) -> list[object]:
        """One search for all the fleet's GPU models, reused for OFFERS_FRESH_S."""
        now = time.monotonic()
        if self._offer_rows is not None and now - self._offer_rows[0] < OFFERS_FRESH_S:
            return self._offer_rows[1]
        found = self.api.call(
            "search_offers",
            self.sdk.search_offers,
            query=search_query(self.vast),
            type="bid" if self.vast.interruptible else "on-demand",
            order="dph_total",
            limit=OFFERS_LIMIT,
            storage=self.vast.disk_gb,  # price the disk the fleet rents, not the SDK's 5 GB
        )
        if not isinstance(found, list):
            raise FleetError("vast search_offers: malformed answer (no list of offers)")
        self._offer_rows = (now, found)
        return found


@dataclass
class _Budget:
    left: float  # $/h the fleet may still add


def _live_dph(instances: list[VastInstance], unknown: float) -> float:
    """$/h of the live instances; one whose price is unknown counts as `unknown` (a hard budget
    must not read a missing price as free)."""
    return sum(unknown if i.dph_total is None else i.dph_total for i in instances if i.live)


def _create_kwargs(request: dict[str, object], priced: PricedOffer) -> dict[str, object]:
    """`create_instance` keywords: the launch request, the bid and the start policy."""
    return {
        **request,
        "price": priced.bid,
        # On demand: fail at once if the machine cannot start now (the next offer is tried)
        # rather than hold a pending instance that counts against the budget and may never
        # start; a bid instead waits its turn, as interruptible rentals do.
        "cancel_unavail": priced.bid is None,
    }


def _offer_id(row: object) -> str:
    return str(row.get("id")) if isinstance(row, dict) else ""
