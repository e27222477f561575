"""What each documented call does to the account, as its OpenAPI file describes it.

A mixin of `FakeVastMarket` (fake_vast_market.py), which holds the state; the server
(fake_vast_server.py) routes requests here after the key and the rate limits. Sources are cited
as in fake_vast_rules.py. Search: filters are objects of operators; `type` "Affects pricing
calculation" (bid: "Uses minimum bid price"); `allocated_storage` is the disk the price includes
(docs: yaml/search_offers.yaml).
"""

from __future__ import annotations

import shlex
import threading
import time
import uuid
from collections.abc import Iterator

from tests.fakes.fake_vast_launch import (
    UNREGISTERED,
    Image,
    Launch,
    launch_of,
    read_env,
    resolved_runtype,
)
from tests.fakes.fake_vast_listing import BadQuery, Listing
from tests.fakes.fake_vast_rules import (
    ALLOCATED_STORAGE_DEFAULT,
    LABEL_INSTANCE_MAX,
    LABEL_TOO_LONG,
    SEARCH_DEFAULTS,
    create_problem,
    cur_state,
    manage_problem,
    search_problem,
)

Answer = tuple[int, object]
CREATE, MANAGE = "PUT /api/v0/asks/{id}/", "PUT /api/v0/instances/{id}/"
# Not in the OpenAPI files (create's 400 enum has no credit error): the answer Vast gives an
# account without credit, kept as our client first met it.
LACKS_CREDIT = {
    "success": False,
    "error": "insufficient_credit",
    "msg": "Your account lacks credit; see the billing page.",
}


class VastCalls:
    """The calls; the attributes are FakeVastMarket's."""

    lock: threading.RLock
    offers: dict[int, dict]
    unschedulable: set[int]
    instances: dict[int, dict]
    launches: dict[int, Launch]
    images: dict[str, Image]
    logs: dict[int, str]
    log_files: dict[str, tuple[float, str]]
    credit: float
    lacks_credit: bool
    new_status: str | None
    page_size: int
    time_scale: float
    log_upload_s: float
    listing: Listing
    url: str

    violations: list[str]
    _ids: Iterator[int]

    def violate(self, where: str, problem: str, source: str) -> None:
        """A request the docs forbid: where, what, and the rule's source."""
        with self.lock:
            self.violations.append(f"{where}: {problem} (docs: {source})")

    def search(self, body: dict) -> Answer:
        if problem := search_problem(body):
            self.violate("POST /api/v0/bundles/", *problem)
            return 400, {"error": "invalid_request", "msg": problem[0]}  # search_offers.yaml 400
        query = {**SEARCH_DEFAULTS, **body}
        storage = float(body.get("allocated_storage", ALLOCATED_STORAGE_DEFAULT))
        with self.lock:
            rows = [
                _price(dict(r), query.get("type", "ondemand"), storage)
                for r in self.offers.values()
            ]
        rows = [r for r in rows if _matches(r, query)]
        for field, direction in reversed(body.get("order") or []):
            rows.sort(key=lambda r, f=field: _sort_key(r.get(f)), reverse=direction == "desc")
        return 200, {"offers": rows[: body.get("limit") or len(rows)]}

    def create(self, offer_id: int, body: dict) -> Answer:
        env = read_env(body.get("env"))
        problem = ("env is neither an object nor Docker flags", "yaml/create_instance.yaml env")
        if env is not None:
            problem = create_problem(body, env)
        if problem:
            self.violate(CREATE, *problem)
            msg = f"error 400: Invalid args: {problem[0]}"
            return 400, {"success": False, "error": "invalid_args", "msg": msg, "ask_id": offer_id}
        with self.lock:
            offer = self.offers.get(offer_id)
            if self.lacks_credit or self.credit <= 0:
                return 400, LACKS_CREDIT
            if offer is None or offer["rented"]:
                return 404, _ask_gone(offer_id, 404)
            bid = body.get("price")
            if bid is not None and bid < offer["min_bid"]:  # create_instance.yaml 400 enum
                msg = f"Your bid {bid} is under the minimum bid {offer['min_bid']}."
                return 400, {"success": False, "error": "invalid_price", "msg": msg}
            stopped = body.get("target_state") == "stopped" or offer_id in self.unschedulable
            if offer_id in self.unschedulable and _cancels(body):
                return 410, _ask_gone(offer_id, 410)
            offer["rented"] = True
            instance_id = next(self._ids)
            status = "stopped" if stopped else self.new_status
            self.instances[instance_id] = _instance(instance_id, offer, body, env, status)
            image = self.images.get(body.get("image") or "", UNREGISTERED)
            self.launches[instance_id] = launch_of(body, image, env)
        return 200, {"success": True, "new_contract": instance_id}

    def list_instances(self, query: dict[str, list[str]]) -> Answer:
        try:
            with self.lock:
                return self.listing.page(self.instances, query, self.page_size)
        except BadQuery as bad:
            self.violate("GET /api/v1/instances/", bad.msg, "yaml/show_instances.yaml parameters")
            return 400, {"error": bad.error, "msg": bad.msg}

    def update(self, instance_id: int, body: dict) -> Answer:
        if problem := manage_problem(body):
            self.violate(MANAGE, *problem)
            return 400, {"success": False, "error": "invalid_args", "msg": problem[0]}
        label = body.get("label")
        if label is not None and len(label) > LABEL_INSTANCE_MAX:
            self.violate(MANAGE, "label over 1024 characters", "yaml/label_instance.yaml")
            return 400, LABEL_TOO_LONG
        with self.lock:
            row = self.instances.get(instance_id)
            if not isinstance(row, dict):  # label_instance.yaml 404
                msg = f"Instance {instance_id} not found."
                return 404, {"success": False, "error": "no_such_instance", "msg": msg}
            if "label" in body:
                row["label"] = label
            if "state" in body:
                row["intended_status"] = body["state"]
        if "label" in body:  # label_instance.yaml 200
            return 200, {"success": True, "msg": f"label for {instance_id} set to {label!r}"}
        return 200, {"success": True}

    def destroy(self, instance_id: int) -> Answer:
        with self.lock:
            if self.instances.pop(instance_id, None) is None:  # destroy_instance.yaml 404
                return 404, {"success": False, "error": "not_found", "msg": "Instance not found"}
        return 200, {"success": True, "msg": "Instance destroyed successfully"}

    def request_logs(self, instance_id: int, body: dict) -> Answer:
        with self.lock:
            if instance_id not in self.instances:  # logs.yaml 404
                return 404, {"error": "invalid_id", "msg": "Invalid instance id."}
            text = "" if body.get("daemon_logs") == "true" else self.logs.get(instance_id, "")
            lines = [ln for ln in text.splitlines(keepends=True) if body.get("filter", "") in ln]
            tail = str(body.get("tail") or "")
            if tail.isdigit():
                lines = lines[-int(tail) :] if int(tail) else []
            key = uuid.uuid4().hex
            ready_at = time.monotonic() + self.log_upload_s * self.time_scale
            self.log_files[key] = (ready_at, "".join(lines))
        url = f"{self.url}/logs/{key}.log"
        return 200, {"success": True, "result_url": url, "msg": "logs will be ready shortly"}

    def user(self) -> Answer:
        """docs: yaml/show_user.yaml 200: id, key_id, email, balance, ssh_key, sid; never the key
        ("excluding the API key")."""
        broke = self.lacks_credit or self.credit <= 0
        return 200, {
            "id": 77,
            "key_id": 1077,
            "email": "zeb@example.invalid",
            "balance": 0.0 if broke else self.credit,
            "ssh_key": "",
            "sid": "fake-vast-session",
        }


def _instance(instance_id: int, offer: dict, body: dict, env: dict, status: str | None) -> dict:
    """A new instance's row, with fields of yaml/show_instances.yaml only."""
    bid = body.get("price")
    gpu_dph = bid if bid is not None else offer["dph_base"]
    disk = float(body.get("disk") or 8.0)  # creating-instances-with-api.mdx disk "default: 8"
    args = body.get("args") or shlex.split(body.get("args_str") or "")
    return {
        "id": instance_id,
        "label": body.get("label"),
        "machine_id": offer["machine_id"],
        "host_id": offer["host_id"],
        "gpu_name": offer["gpu_name"],
        "num_gpus": offer["num_gpus"],
        "actual_status": status,
        "intended_status": "stopped" if status == "stopped" else "running",
        "cur_state": cur_state(status),
        "status_msg": "",
        "start_date": time.time(),
        "dph_base": gpu_dph,
        "dph_total": gpu_dph + offer["storage_cost"] * disk / 720.0,
        "storage_cost": offer["storage_cost"],
        "min_bid": offer["min_bid"],
        "is_bid": bid is not None,
        "disk_space": disk,
        "reliability2": offer.get("reliability2"),
        "image_uuid": body.get("image"),
        "image_args": list(args),
        "image_runtype": resolved_runtype(body),
        "onstart": body.get("onstart"),
        "template_hash_id": body.get("template_hash_id"),
        "extra_env": [[k, v] for k, v in env.items()],
    }


def _sort_key(value: object) -> tuple[bool, object]:
    return value is None, 0 if value is None else value


def _cancels(body: dict) -> bool:
    """docs: yaml/create_instance.yaml cancel_unavail ("Defaults to false for interruptibles.
    Defaults to true for on-demand with target_state='running'")."""
    if body.get("cancel_unavail") is not None:
        return bool(body["cancel_unavail"])
    return body.get("price") is None and body.get("target_state", "running") == "running"


def _ask_gone(offer_id: int, status: int) -> dict:
    """docs: yaml/create_instance.yaml 404 and 410 examples."""
    if status == 404:
        msg = f"error 404/3603: no_such_ask Instance type by id {offer_id} is not available."
        return {"success": False, "error": "invalid_args", "msg": msg, "ask_id": offer_id}
    msg = f"error 410/3907: no_such_ask Instance type {offer_id} is no longer available."
    return {"success": False, "error": "no_such_ask", "msg": msg, "ask_id": offer_id}


HOURS_PER_MONTH = 720.0  # storage_cost is $/GB/month
OPS = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}
# docs: search_offers.yaml `reliability` filter; its offers carry the value as reliability2 too
ALIASES = {"reliability": "reliability2"}


def _price(row: dict, offer_type: str, storage_gb: float) -> dict:
    """The offer as a search of this type and storage shows it."""
    base = row["min_bid"] if offer_type == "bid" else row["dph_base"]
    row["dph_total"] = base + row["storage_cost"] * storage_gb / HOURS_PER_MONTH
    return row


def _matches(row: dict, query: dict) -> bool:
    for field, condition in query.items():
        if not isinstance(condition, dict):
            continue  # type, order, limit, allocated_storage
        value = row.get(ALIASES.get(field, field))
        if value is None:
            continue  # a filter on a field this fake does not model
        for op, wanted in condition.items():
            if field == "gpu_name":
                value, wanted = _gpu(value), _gpu(wanted)
            try:
                if not OPS[op](value, wanted):
                    return False
            except TypeError:
                return False
    return True


def _gpu(name: object) -> object:
    """GPU names match with spaces or underscores: the docs write both ("RTX_4090" in
    search_offers.yaml gpu_name, "RTX 4090" in creating-instances-with-api.mdx)."""
    if isinstance(name, list):
        return [_gpu(n) for n in name]
    return name.replace("_", " ") if isinstance(name, str) else name
