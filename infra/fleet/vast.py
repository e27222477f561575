"""VastFleet: a fleet of workers on rented Vast.ai machines, through the official `vastai` SDK.

Each worker is one instance labelled `zeb-<EXP>-<role>-worker-vast-<i>`; the fleet sees an
instance only when its label parses to this fleet's experiment, role and provider, so a fleet
never touches another experiment's (or tool's) instances, whatever their labels start with.

SDK calls and the requests they make (vastai 1.9):

    search_offers       POST   /api/v0/bundles/                 {filters, type, allocated_storage}
    create_instance     PUT    /api/v0/asks/<offer>/            {image, disk, env, label, onstart}
    label_instance      PUT    /api/v0/instances/<id>/          {"label": ...}
    show_instances_v1   GET    /api/v1/instances/?select_filters=&order_by=&limit=[&after_token=]
    destroy_instance    DELETE /api/v0/instances/<id>/
    logs                PUT    /api/v0/instances/request_logs/<id>/, then GET the result_url
    show_user           GET    /api/v0/users/current

The SDK's own retry is off (one try per call) and its client's timeout is the settings' (20 s
by default, not the SDK's 120 s); this module retries 429, 5xx and timeouts a bounded number of
times, except a create, which is retried only on 429: a create that timed out may have rented,
and its label makes it show up in the next status. Every failure becomes a one-line FleetError
naming the call, never the key; an account without credit becomes a CreditError.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vastai import VastAI

from infra.experiment import Experiment, ExperimentError
from infra.fleet.base import (
    FleetError,
    FleetSpec,
    Offer,
    WorkerLabel,
    WorkerRecord,
    free_indices,
)
from infra.fleet.hub_view import newest_shards
from infra.fleet.memory import FleetStore
from infra.fleet.offers import PricedOffer, rank_offers, search_query
from infra.fleet.onstart import render_onstart
from infra.fleet.vast_api import (
    CallPolicy,
    VastApi,
    VastHttpError,
    VastInstance,
    first_line,
    make_client,
    utc,
)
from infra.hub.base import HubError
from infra.settings import Settings
from infra.worker.heartbeat import error_lines, heartbeat_from_log

log = logging.getLogger("zeb.fleet")

OFFERS_PER_GPU = 64  # search results per GPU model (cheapest first)
INSTANCES_PAGE = 100  # instances per page of the listing
MAX_PAGES = 50  # a runaway next_token cannot loop forever
LOG_TAIL_LINES = 400  # heartbeat lines are frequent: the newest few hundred lines suffice
LOG_THREADS = 8
OFFER_TRIES = 5  # offers tried per worker when offers vanish (rented by someone else first)


class VastFleet:
    """The Fleet protocol on Vast.ai (see `infra.fleet.base.Fleet`)."""

    def __init__(
        self,
        spec: FleetSpec,
        experiment: Experiment,
        store: FleetStore,
        settings: Settings,
        client: VastAI | None = None,
        *,
        policy: CallPolicy | None = None,
        logs_budget_s: float | None = None,
    ) -> None:
        if spec.provider != "vast" or spec.vast is None:
            raise FleetError(f"fleet {spec.prefix} is not a Vast fleet (provider {spec.provider})")
        self.spec, self.vast = spec, spec.vast
        self.experiment, self.store, self.settings = experiment, store, settings
        # All instances' logs together get this long per status; late ones count as unknown.
        self.logs_budget_s = logs_budget_s or settings.vast_timeout_s
        secrets = (settings.vast_api_key, settings.hf_token)
        self.sdk = client if client is not None else make_client(settings)
        self.api = VastApi(
            self.sdk,
            policy or CallPolicy(),
            tuple(s.get_secret_value() for s in secrets if s and s.get_secret_value()),
        )

    def __repr__(self) -> str:
        return f"VastFleet({self.spec.prefix}, target {self.spec.target})"

    # -- the protocol ----------------------------------------------------------------------------

    def status(self) -> list[WorkerRecord]:
        owned = self._owned()
        texts = self._logs([i.id for i in owned if i.state != "booting"])
        shards = self._newest_shards()
        records = [self._record(i, texts.get(i.id), shards) for i in owned]
        return sorted(records, key=lambda r: (r.label, r.provider_id))

    def up(self, n: int) -> list[str]:
        owned = self._owned()
        missing = n - sum(1 for i in owned if i.live)
        if missing <= 0:
            return []
        budget = self._budget(owned)
        candidates = self._priced_offers()
        started = []
        for index in free_indices([self._record(i, None, {}) for i in owned], missing):
            label = str(self.spec.label(index))
            if not self._rent(label, candidates, budget):
                log.warning(
                    "vast: %s started %d of %d workers: %s",
                    self.spec.prefix,
                    len(started),
                    missing,
                    self._no_offer_reason(budget, candidates),
                )
                break
            started.append(label)
        return started

    def start(self, label: str) -> None:
        self._check_label(label)
        self._start(label, self._owned())

    def stop(self, worker: WorkerRecord) -> None:
        self._check_label(worker.label)
        self._destroy(worker.provider_id, worker.label)

    def replace(self, label: str) -> None:
        self._check_label(label)
        owned = self._owned()
        old = [i for i in owned if i.label == label]
        for instance in old:
            self._destroy(str(instance.id), label)
        gone = {i.id for i in old}
        self._start(label, [i for i in owned if i.id not in gone])

    def down(self) -> list[str]:
        owned = self._owned()
        stopped, failures = set(), []
        for instance in owned:
            try:
                self._destroy(str(instance.id), instance.label or "")
                stopped.add(instance.label or "")
            except FleetError as exc:
                failures.append(str(exc))
        if failures:
            raise FleetError(
                f"{self.spec.prefix}: {len(failures)} of {len(owned)} instance(s) not destroyed; "
                f"first: {failures[0]}"
            )
        return sorted(stopped)

    def offers(self) -> list[Offer]:
        return [p.offer for p in self._priced_offers()]

    def credit_ok(self) -> bool:
        """True while the account has prepaid credit left (a cheap probe before renting)."""
        user = self.api.call("show_user", self.sdk.show_user)
        credit = user.get("credit") if isinstance(user, dict) else None
        if not isinstance(credit, int | float):
            raise FleetError("vast show_user: malformed answer (no credit field)")
        return credit > 0

    # -- renting ---------------------------------------------------------------------------------

    def _start(self, label: str, owned: list[VastInstance]) -> None:
        if any(i.label == label and i.live for i in owned):
            raise FleetError(f"{label} is live already: replace or stop it instead")
        budget = self._budget(owned)
        candidates = self._priced_offers()
        if not self._rent(label, candidates, budget):
            raise FleetError(f"cannot start {label}: {self._no_offer_reason(budget, candidates)}")

    def _budget(self, owned: list[VastInstance]) -> _Budget:
        return _Budget(self.vast.max_dph_fleet - _live_dph(owned, self.vast.max_dph_per_worker))

    def _no_offer_reason(self, budget: _Budget, candidates: list[PricedOffer]) -> str:
        if not candidates:
            return "no offer left that matches the GPUs, reliability, disk and $/h a worker"
        return (
            f"no offer fits the ${max(budget.left, 0):.3f}/h left of the fleet's "
            f"${self.vast.max_dph_fleet:.2f}/h (at most ${self.vast.max_dph_per_worker:.2f}/h "
            "a worker)"
        )

    def _rent(self, label: str, candidates: list[PricedOffer], budget: _Budget) -> bool:
        """Rent the best offer within budget for `label` (offers used or gone leave the list)."""
        for _ in range(OFFER_TRIES):
            fitting = [c for c in candidates if c.offer.dph <= budget.left + 1e-9]
            if not fitting:
                return False
            choice = fitting[0]
            candidates.remove(choice)
            try:
                self._create(label, choice)
            except VastHttpError as exc:
                if exc.status not in (404, 410):  # only "this offer is gone" tries the next
                    raise
                log.info("vast: offer %s is gone (%s); trying the next", choice.offer.offer_id, exc)
                continue
            budget.left -= choice.offer.dph
            return True
        return False

    def _create(self, label: str, priced: PricedOffer) -> None:
        parsed = WorkerLabel.parse(label)
        assert parsed is not None  # checked by the callers
        command, env = render_onstart(self.spec, self.settings, parsed)
        offer = priced.offer
        answer = self.api.call(
            "create_instance",
            self.sdk.create_instance,
            int(offer.offer_id),
            image=self.vast.image,
            disk=self.vast.disk_gb,
            env=env,
            label=label,
            onstart_cmd=command,
            # Launch mode "args": the image's entrypoint (onstart.sh) is the container's main
            # process, so the worker's output is the log that `logs` returns. onstart is sent
            # too, for a launch mode that replaces the entrypoint (ssh) and runs it instead.
            runtype="args",
            price=priced.bid,
            # On demand: fail at once if the machine cannot start now (the next offer is tried)
            # rather than hold a pending instance that counts against the budget and may never
            # start; a bid instead waits its turn, as interruptible rentals do.
            cancel_unavail=priced.bid is None,
            idempotent=False,
        )
        instance_id = answer.get("new_contract") if isinstance(answer, dict) else None
        if not isinstance(instance_id, int):
            raise FleetError(f"vast create_instance for {label}: no instance id in the answer")
        self._confirm_label(instance_id, label)
        log.info(
            "vast: started %s as instance %d on machine %s (%s, $%.3f/h, offer %s)",
            label,
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

    def _destroy(self, instance_id: str, label: str) -> None:
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

    def _priced_offers(self) -> list[PricedOffer]:
        rows: list[object] = []
        for gpu in self.vast.gpu_names:
            found = self.api.call(
                "search_offers",
                self.sdk.search_offers,
                query=search_query(self.vast, gpu),
                type="bid" if self.vast.interruptible else "on-demand",
                order="dph_total",
                limit=OFFERS_PER_GPU,
                storage=self.vast.disk_gb,  # price the disk the fleet rents, not the SDK's 5 GB
            )
            if not isinstance(found, list):
                raise FleetError("vast search_offers: malformed answer (no list of offers)")
            rows.extend(found)
        return rank_offers(rows, self.vast, self.store.load_memory())

    # -- observing -------------------------------------------------------------------------------

    def _owned(self) -> list[VastInstance]:
        """This fleet's instances, by exact label match."""
        return [i for i in self._instances() if self.spec.owns(i.label)]

    def _instances(self) -> list[VastInstance]:
        params: dict[str, Any] = {
            "select_filters": {},
            "order_by": [{"col": "id", "dir": "asc"}],
            "limit": INSTANCES_PAGE,
        }
        rows: list[object] = []
        for _ in range(MAX_PAGES):
            page = self.api.call("show_instances", self.sdk.show_instances_v1, dict(params))
            batch = page.get("instances") if isinstance(page, dict) else None
            if not isinstance(batch, list):
                raise FleetError("vast show_instances: malformed answer (no list of instances)")
            rows.extend(batch)
            if not page.get("next_token"):
                break
            params["after_token"] = page["next_token"]
        else:
            log.warning("vast: over %d pages of instances; the rest are unseen", MAX_PAGES)
        return [i for row in rows if (i := self._parse_instance(row)) is not None]

    def _parse_instance(self, row: object) -> VastInstance | None:
        # The log line never shows the row: it carries the instance's env, tokens included.
        instance = VastInstance.model_validate(row) if isinstance(row, dict) else None
        if instance is None or instance.id is None:
            label = instance.label if instance and WorkerLabel.parse(instance.label) else "?"
            log.warning("vast: skipping an instance without a usable id (label %s)", label)
            return None
        return instance

    def _logs(self, ids: list[int]) -> dict[int, str]:
        """Each instance's recent log, fetched together within `logs_budget_s`."""
        if not ids:
            return {}
        pool = ThreadPoolExecutor(min(LOG_THREADS, len(ids)), thread_name_prefix="vast-logs")
        futures = {
            pool.submit(self.api.call, "logs", self.sdk.logs, i, tail=str(LOG_TAIL_LINES)): i
            for i in ids
        }
        done, late = wait(futures, timeout=self.logs_budget_s)
        pool.shutdown(wait=False, cancel_futures=True)  # late ones finish on their own
        texts = {}
        for future in done:
            try:
                text = future.result()
            except FleetError as exc:
                log.info("vast: no log of instance %d this pass: %s", futures[future], exc)
                continue
            texts[futures[future]] = text if isinstance(text, str) else ""
        if late:
            log.warning(
                "vast: logs of %d instance(s) not back within %.1f s; heartbeats unknown this pass",
                len(late),
                self.logs_budget_s,
            )
        return texts

    def _newest_shards(self) -> dict[str, datetime]:
        try:
            return newest_shards(self.experiment, self.spec.role)
        except (HubError, ExperimentError, OSError) as exc:
            reason = self.api.scrub(first_line(exc))
            log.warning("vast: hub listing failed, last shard times unknown: %s", reason)
            return {}

    def _record(
        self, instance: VastInstance, log_text: str | None, shards: dict[str, datetime]
    ) -> WorkerRecord:
        text = self.api.scrub(log_text or "")
        label = instance.label or ""
        return WorkerRecord(
            label=label,
            provider_id=str(instance.id),
            state=instance.state,
            started_at=utc(instance.start_date),
            heartbeat=heartbeat_from_log(text) if text else None,
            last_shard_at=shards.get(label),
            dph=instance.dph_total,
            machine=str(instance.machine_id) if instance.machine_id is not None else None,
            gpu=instance.gpu_name,
            detail=self.api.scrub(first_line(instance.status_msg or ""))
            or (instance.actual_status or "scheduling"),
            error_lines=error_lines(text),
        )

    # -- calls -----------------------------------------------------------------------------------

    def _check_label(self, label: str) -> None:
        if not self.spec.owns(label):
            raise FleetError(f"{label!r} is not a worker label of fleet {self.spec.prefix} on vast")


@dataclass
class _Budget:
    left: float  # $/h the fleet may still add


def _live_dph(instances: list[VastInstance], unknown: float) -> float:
    """$/h of the live instances; one whose price is unknown counts as `unknown` (a hard budget
    must not read a missing price as free)."""
    return sum(unknown if i.dph_total is None else i.dph_total for i in instances if i.live)
