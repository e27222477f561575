"""VastFleet: a fleet of workers on rented Vast.ai machines, through the official `vastai` SDK.

Each worker is one instance labelled `zeb-<EXP>-<role>-worker-vast-<i>`; the fleet sees an
instance only when its label parses to this fleet's experiment, role and provider, so a fleet
never touches another experiment's (or tool's) instances, whatever their labels start with.

SDK calls and the requests they make (vastai 1.9), each paced by Vast's documented limits
(`vast_pacing`):

    search_offers       POST   /api/v0/bundles/                 {filters, type, allocated_storage}
    create_instance     PUT    /api/v0/asks/<offer>/            {image, disk, env, label, runtype,
                                                                 args, image_login}
    label_instance      PUT    /api/v0/instances/<id>/          {"label": ...}
    show_instances_v1   GET    /api/v1/instances/?select_filters=&order_by=&limit=25[&after_token=]
    destroy_instance    DELETE /api/v0/instances/<id>/
    logs                PUT    /api/v0/instances/request_logs/<id>/, then GET the result_url
    show_user           GET    /api/v0/users/current

One offer search serves a pass (all GPU models at once; Vast allows 10 a minute). A create
refused with a 429 is sent again once Vast's penalty is over (a refused create rented nothing);
a create that timed out is not, since it may have rented: its label makes it show up in the next
status. `down` destroys until the listing shows none of the fleet's instances left, and names
every one it could not destroy, with its $/h. The SDK's own retry is off and its client's
timeout is the settings' (20 s by default, not the SDK's 120 s). Every failure becomes a
one-line FleetError naming the call, never the key; an account without credit a CreditError.
"""

from __future__ import annotations

import logging
from datetime import datetime

from vastai import VastAI

from infra.experiment import Experiment, ExperimentError
from infra.fleet.base import (
    FleetError,
    FleetSpec,
    Offer,
    WorkerRecord,
    free_indices,
)
from infra.fleet.hub_view import newest_shards
from infra.fleet.memory import FleetStore
from infra.fleet.vast_api import (
    CallPolicy,
    VastApi,
    VastInstance,
    first_line,
    make_client,
    utc,
)
from infra.fleet.vast_listing import list_instances, read_logs
from infra.fleet.vast_pacing import Pacer, shared_pacer
from infra.fleet.vast_renting import PlannedWorker, VastRenter
from infra.hub.base import HubError
from infra.settings import Settings
from infra.worker.heartbeat import error_lines, heartbeat_from_log

log = logging.getLogger("zeb.fleet")

DOWN_ROUNDS = 3  # destroy, list again, destroy what is left: until nothing of the fleet bills


class StillBilling(FleetError):
    """`down` could not destroy every instance: they still cost money."""

    def __init__(self, message: str, instances: list[VastInstance]) -> None:
        super().__init__(message)
        self.instances = instances


class VastFleet:
    """The Fleet protocol on Vast.ai (see `infra.fleet.base.Fleet`)."""

    # Vast's destroy removes the instance and its disk at once ("Destroying an instance is
    # irreversible and deletes all data": docs.vast.ai, Instances > Destroy).
    destroys_spool = True

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
        pacer: Pacer | None = None,
    ) -> None:
        if spec.provider != "vast" or spec.vast is None:
            raise FleetError(f"fleet {spec.prefix} is not a Vast fleet (provider {spec.provider})")
        self.spec, self.vast = spec, spec.vast
        self.experiment, self.store, self.settings = experiment, store, settings
        # All instances' logs together get this long per status; late ones count as unknown.
        self.logs_budget_s = logs_budget_s or settings.vast_timeout_s
        self.sdk = client if client is not None else make_client(settings)
        key = settings.vast_api_key.get_secret_value() if settings.vast_api_key else ""
        secrets = (key, *(s.get_secret_value() for s in _other_secrets(settings)))
        self.api = VastApi(
            self.sdk,
            policy or CallPolicy(),
            tuple(s for s in secrets if s),
            pacer or shared_pacer(settings.vast_url, key, settings.vast_pace_scale),
        )
        self.renter = VastRenter(self.api, self.sdk, spec, settings, store)

    def __repr__(self) -> str:
        return f"VastFleet({self.spec.prefix}, target {self.spec.target})"

    # -- the protocol ----------------------------------------------------------------------------

    def status(self) -> list[WorkerRecord]:
        owned = self._owned()
        ids = [i.id for i in owned if i.state in ("running", "exited") and i.id is not None]
        texts = read_logs(self.api, self.sdk, ids, self.logs_budget_s)
        shards = self._newest_shards()
        records = [self._record(i, texts.get(i.id), shards) for i in owned]
        return sorted(records, key=lambda r: (r.label, r.provider_id))

    def up(self, n: int) -> list[str]:
        owned = self._owned()
        missing = n - sum(1 for i in owned if i.live)
        if missing <= 0:
            return []
        budget = self.renter.budget(owned)
        candidates = self.renter.priced_offers()
        started = []
        for index in free_indices([self._record(i, None, {}) for i in owned], missing):
            label = str(self.spec.label(index))
            if not self.renter.rent(label, candidates, budget):
                log.warning(
                    "vast: %s started %d of %d workers: %s",
                    self.spec.prefix,
                    len(started),
                    missing,
                    self.renter.no_offer_reason(budget, candidates),
                )
                break
            started.append(label)
        return started

    def plan(self, n: int) -> list[PlannedWorker]:
        """What `up(n)` would rent and send, renting nothing (`zeb fleet up --dry-run`)."""
        owned = self._owned()
        missing = max(n - sum(1 for i in owned if i.live), 0)
        indices = free_indices([self._record(i, None, {}) for i in owned], missing)
        return self.renter.plan(owned, [self.spec.label(i) for i in indices])

    def start(self, label: str) -> None:
        self._check_label(label)
        self._start(label, self._owned())

    def stop(self, worker: WorkerRecord) -> None:
        self._check_label(worker.label)
        self.renter.destroy(worker.provider_id, worker.label)

    def replace(self, label: str) -> None:
        self._check_label(label)
        owned = self._owned()
        old = [i for i in owned if i.label == label and not i.released]
        for instance in old:
            self.renter.destroy(str(instance.id), label)
        gone = {i.id for i in old}
        self._start(label, [i for i in owned if i.id not in gone])

    def down(self) -> list[str]:
        """Destroy every instance of the fleet, listing again until none is left; raise
        StillBilling naming each one that is left, with its $/h."""
        stopped: set[str] = set()
        failures: dict[int, str] = {}
        for _ in range(DOWN_ROUNDS):
            left = [i for i in self._owned() if not i.released]
            if not left:
                return sorted(stopped)
            for instance in left:
                try:
                    self.renter.destroy(str(instance.id), instance.label or "")
                    stopped.add(instance.label or "")
                except FleetError as exc:
                    failures[instance.id or 0] = str(exc)
        left = [i for i in self._owned() if not i.released]
        if left:
            raise StillBilling(_still_billing(self.spec.prefix, left, failures), left)
        return sorted(stopped)

    def offers(self) -> list[Offer]:
        return [p.offer for p in self.renter.priced_offers()]

    def credit_ok(self) -> bool:
        """True while the account has prepaid credit left (a cheap probe before renting).

        show_user.yaml documents `balance`; the SDK's own CLI shows `credit`: whichever the
        answer carries."""
        user = self.api.call("show_user", self.sdk.show_user)
        found = [user.get(k) for k in ("credit", "balance")] if isinstance(user, dict) else []
        credit = next((v for v in found if isinstance(v, int | float)), None)
        if credit is None:
            raise FleetError("vast show_user: malformed answer (no balance or credit)")
        return credit > 0

    @property
    def calls(self) -> dict[str, int]:
        """Requests sent so far, per SDK call (what a command reports)."""
        return dict(self.api.calls)

    # -- renting ---------------------------------------------------------------------------------

    def _start(self, label: str, owned: list[VastInstance]) -> None:
        if any(i.label == label and i.live for i in owned):
            raise FleetError(f"{label} is live already: replace or stop it instead")
        budget = self.renter.budget(owned)
        candidates = self.renter.priced_offers()
        if not self.renter.rent(label, candidates, budget):
            reason = self.renter.no_offer_reason(budget, candidates)
            raise FleetError(f"cannot start {label}: {reason}")

    # -- observing -------------------------------------------------------------------------------

    def _owned(self) -> list[VastInstance]:
        """This fleet's instances, by exact label match."""
        return [i for i in list_instances(self.api, self.sdk) if self.spec.owns(i.label)]

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
            log_read=log_text is not None,
            last_shard_at=shards.get(label),
            dph=instance.dph_total,
            machine=str(instance.machine_id) if instance.machine_id is not None else None,
            gpu=instance.gpu_name,
            detail=self.api.scrub(first_line(instance.status_msg or ""))
            or (instance.actual_status or "scheduling"),
            error_lines=error_lines(text),
        )

    def _check_label(self, label: str) -> None:
        if not self.spec.owns(label):
            raise FleetError(f"{label!r} is not a worker label of fleet {self.spec.prefix} on vast")


def _other_secrets(settings: Settings) -> list:
    return [s for s in (settings.hf_token, settings.vast_image_login) if s is not None]


def _still_billing(prefix: str, left: list[VastInstance], failures: dict[int, str]) -> str:
    rows = []
    for i in left:
        price = f"${i.dph_total:.3f}/h" if i.dph_total is not None else "$?/h"
        why = failures.get(i.id or 0, "still listed after destroy")
        rows.append(f"instance {i.id} ({i.label}, {price}): {why}")
    total = sum(i.dph_total or 0.0 for i in left)
    return (
        f"{prefix}: {len(left)} instance(s) NOT destroyed and still billing "
        f"(${total:.3f}/h): "
        + "; ".join(rows)
        + ". Destroy them by hand: vastai destroy instance ID"
    )
