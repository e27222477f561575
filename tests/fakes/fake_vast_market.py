"""The Vast.ai account and market behind the fake API: offers, instances and their semantics.

Pure Python, no sockets: `FakeVastServer` (tests/fakes/fake_vast_server.py) puts it on the wire.
Each API call is a method that answers `(HTTP status, JSON payload)`. Errors look like Vast's:
{"success": false, "error": ..., "msg": ...}. An offer's `dph_total` is priced at the search's
`allocated_storage` (the SDK's default is 5 GB) and an instance's at its rented disk, storage at
`storage_cost` $/GB/month of 720 hours. Faults are kept here and injected by the server, per
request: `add_fault("503", path="/instances/", times=2)`; kinds are an HTTP status, "hang" (hold
the request for `delay_s`, then close it unanswered), "reset" (close at once) and "malformed" (200
with broken JSON). `lacks_credit = True` makes every create answer as Vast does without credit.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass

HOURS_PER_MONTH = 720.0
LACKS_CREDIT = {
    "success": False,
    "error": "insufficient_credit",
    "msg": "Your account lacks credit; see the billing page.",
}
_OPS = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}
_ALIASES = {"reliability": "reliability2"}  # query field -> offer field


@dataclass
class Fault:
    kind: str
    path: str  # regex searched in the request path
    method: str | None
    times: int
    delay_s: float


class FakeVastMarket:
    """One account on the market: what it rents, what it is offered, and what it was asked."""

    def __init__(self, api_key: str, page_size: int = 100, new_status: str = "running") -> None:
        self.api_key = api_key
        self.page_size = page_size  # instances per listing page, at most
        self.new_status = new_status  # actual_status of instances as they are created
        self.url = ""  # where the log files are served (the server sets it)
        self.offers: dict[int, dict] = {}
        self.instances: dict[int, dict] = {}
        self.logs: dict[int, str] = {}  # instance id -> container log
        self.log_files: dict[str, str] = {}  # result_url key -> log snapshot
        self.credit = 25.0
        self.lacks_credit = False
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) on arrival
        self.bodies: list[tuple[str, str, object]] = []  # (method, path, JSON body)
        self.lock = threading.RLock()
        self._ids = itertools.count(5001)

    # -- test helpers ----------------------------------------------------------------------------

    def add_offer(self, machine_id: int, gpu_name: str, dph_base: float, **fields) -> int:
        """An offer on one machine; `fields` override the defaults (storage_cost, reliability2,
        disk_space, min_bid, num_gpus, ...)."""
        offer_id = next(self._ids)
        row = {
            "id": offer_id,
            "ask_contract_id": offer_id,
            "machine_id": machine_id,
            "host_id": machine_id * 10,
            "gpu_name": gpu_name,
            "num_gpus": 1,
            "dph_base": dph_base,
            "storage_cost": 0.1,
            "reliability2": 0.995,
            "disk_space": 200.0,
            "min_bid": round(dph_base * 0.5, 4),
            "verified": True,
            "external": False,
            "rentable": True,
            "rented": False,
            "inet_up_cost": 0.0,
            "inet_down_cost": 0.0,
            **fields,
        }
        with self.lock:
            self.offers[offer_id] = row
        return offer_id

    def add_instance(self, label: str | None, status: str = "running", **fields) -> int:
        """An instance already in the account (another tool's, another experiment's, ours)."""
        instance_id = next(self._ids)
        row = {
            "id": instance_id,
            "label": label,
            "machine_id": 900 + instance_id % 100,
            "gpu_name": "RTX 3090",
            "num_gpus": 1,
            "actual_status": status,
            "intended_status": "running",
            "cur_state": status,
            "status_msg": f"{status} since a while",
            "start_date": time.time() - 3600,
            "dph_total": 0.2,
            "disk_space": 24.0,
            "extra_env": [["HF_TOKEN", "hf_someone_elses_token"]],
            **fields,
        }
        with self.lock:
            self.instances[instance_id] = row
        return instance_id

    def add_raw_instance(self, row: object) -> None:
        """A listing entry exactly as given (malformed rows, rows without an id)."""
        given = row.get("id") if isinstance(row, dict) else None
        with self.lock:
            key = given if isinstance(given, int) else next(self._ids)
            self.instances[key] = row  # type: ignore[assignment]

    def set_status(self, instance_id: int, status: str | None, message: str = "") -> None:
        with self.lock:
            row = self.instances[instance_id]
            row["actual_status"], row["cur_state"], row["status_msg"] = status, status, message

    def set_logs(self, instance_id: int, text: str) -> None:
        with self.lock:
            self.logs[instance_id] = text

    def labels(self) -> list[str | None]:
        with self.lock:
            return sorted(
                (r.get("label") for r in self.instances.values() if isinstance(r, dict)),
                key=str,
            )

    def by_label(self, label: str) -> list[dict]:
        with self.lock:
            rows = self.instances.values()
            return [r for r in rows if isinstance(r, dict) and r.get("label") == label]

    # -- requests and faults ---------------------------------------------------------------------

    def add_fault(
        self, kind: str, path: str = "", method: str | None = None, times: int = 1, delay_s=3.0
    ) -> None:
        with self.lock:
            self.faults.append(Fault(kind, path, method, times, delay_s))

    def record(self, method: str, path: str, body: object) -> None:
        """A request as it arrives, before any fault or check."""
        with self.lock:
            self.requests.append((method, path))
            self.bodies.append((method, path, body))

    def count(self, method: str, pattern: str) -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and re.search(pattern, p))

    def last_body(self, method: str, pattern: str) -> object:
        with self.lock:
            hits = [b for m, p, b in self.bodies if m == method and re.search(pattern, p)]
        return hits[-1] if hits else None

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method in (None, method):
                    if re.search(fault.path, path):
                        fault.times -= 1
                        return fault
        return None

    def log_file(self, key: str) -> str | None:
        """A log snapshot by its result_url key; None if there is none."""
        with self.lock:
            return self.log_files.get(key)

    # -- the API's behaviour ---------------------------------------------------------------------

    def search(self, body: dict) -> tuple[int, object]:
        storage = float(body.get("allocated_storage", 5.0))
        with self.lock:
            rows = [dict(r) for r in self.offers.values()]
        for row in rows:
            row["dph_total"] = row["dph_base"] + row["storage_cost"] * storage / HOURS_PER_MONTH
        rows = [r for r in rows if _matches(r, body)]
        for field, direction in reversed(body.get("order") or []):
            rows.sort(key=lambda r, f=field: r.get(f, 0), reverse=direction == "desc")
        return 200, {"offers": rows[: int(body.get("limit") or len(rows))]}

    def create(self, offer_id: int, body: dict) -> tuple[int, object]:
        with self.lock:
            offer = self.offers.get(offer_id)
            if self.lacks_credit:
                return 400, LACKS_CREDIT
            if offer is None or offer["rented"]:
                msg = f"Instance type {offer_id} is no longer available."
                return 404, {"success": False, "error": "no_such_ask", "msg": msg}
            offer["rented"] = True
            instance_id = next(self._ids)
            bid = body.get("price")
            gpu_dph = bid if bid is not None else offer["dph_base"]
            disk = float(body.get("disk") or 10)
            self.instances[instance_id] = {
                "id": instance_id,
                "label": body.get("label"),
                "machine_id": offer["machine_id"],
                "gpu_name": offer["gpu_name"],
                "num_gpus": offer["num_gpus"],
                "actual_status": self.new_status,
                "intended_status": "running",
                "cur_state": self.new_status,
                "status_msg": "",
                "start_date": time.time(),
                "dph_base": gpu_dph,
                "dph_total": gpu_dph + offer["storage_cost"] * disk / HOURS_PER_MONTH,
                "disk_space": disk,
                "image_uuid": body.get("image"),
                "onstart": body.get("onstart"),
                "runtype": body.get("runtype"),
                "is_bid": bid is not None,
                "extra_env": [[k, v] for k, v in (body.get("env") or {}).items()],
            }
        return 200, {"success": True, "new_contract": instance_id}

    def list_instances(self, query: dict[str, list[str]]) -> tuple[int, object]:
        limit = min(int(json.loads(query.get("limit", ["25"])[0])), self.page_size)
        after = int(query.get("after_token", ["0"])[0])
        with self.lock:
            ids = sorted(i for i in self.instances if i > after)
            page = [self.instances[i] for i in ids[:limit]]
        token = str(ids[limit - 1]) if len(ids) > limit else None
        total = len(self.instances)
        return 200, {"instances": page, "next_token": token, "total_instances": total}

    def update(self, instance_id: int, body: dict) -> tuple[int, object]:
        with self.lock:
            row = self.instances.get(instance_id)
            if not isinstance(row, dict):
                return _no_instance(instance_id)
            if "label" in body:
                row["label"] = body["label"]
            if "state" in body:
                row["intended_status"] = body["state"]
        return 200, {"success": True}

    def destroy(self, instance_id: int) -> tuple[int, object]:
        with self.lock:
            if self.instances.pop(instance_id, None) is None:
                return _no_instance(instance_id)
        return 200, {"success": True}

    def request_logs(self, instance_id: int, body: dict) -> tuple[int, object]:
        with self.lock:
            if instance_id not in self.instances:
                return _no_instance(instance_id)
            lines = self.logs.get(instance_id, "").splitlines(keepends=True)
            tail = int(body.get("tail") or 1000)
            key = uuid.uuid4().hex
            self.log_files[key] = "".join(lines[-tail:])
        url = f"{self.url}/logs/{key}.log"
        return 200, {"success": True, "result_url": url, "msg": "logs will be ready shortly"}

    def user(self) -> tuple[int, object]:
        return 200, {
            "id": 77,
            "username": "zeb-test",
            "email": "zeb@example.invalid",
            "credit": self.credit,
            "balance": 0.0,
            "api_key": self.api_key,  # the real API echoes it; the SDK pops it
        }


def _matches(row: dict, query: dict) -> bool:
    for field, condition in query.items():
        if not isinstance(condition, dict):
            continue  # type, order, limit, allocated_storage
        value = row.get(_ALIASES.get(field, field))
        if value is None:
            continue  # a filter on a field this fake does not model
        for op, wanted in condition.items():
            if op in _OPS and not _OPS[op](value, wanted):
                return False
    return True


def _no_instance(instance_id: int) -> tuple[int, object]:
    msg = f"Instance {instance_id} not found."
    return 404, {"success": False, "error": "no_such_instance", "msg": msg}
