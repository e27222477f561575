"""The Vast.ai account and market behind the fake API: its offers, instances and requests.

Pure Python, no sockets: what each call does is in fake_vast_calls.py; `FakeVastServer`
(fake_vast_server.py) puts it on the wire and applies the rate limits. Every answer follows Vast's
documentation (fake_vast_rules.py holds the rules and their sources); a request the docs forbid is
answered as Vast would and recorded in `violations`. An offer's `dph_total` is priced at the
search's `allocated_storage` and an instance's at its rented disk, storage at `storage_cost`
$/GB/month of 720 hours. Faults are kept here and injected by the server:
`add_fault("503", path="/instances/", times=2)`; kinds are an HTTP status, "hang" (hold the
request for `delay_s`, then close it unanswered), "reset" (close at once) and "malformed" (200
with broken JSON). A fault is not a rule: an injected 429 is no rate-limit trip.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass

from tests.fakes.fake_vast_calls import VastCalls
from tests.fakes.fake_vast_launch import Image, Launch
from tests.fakes.fake_vast_listing import Listing
from tests.fakes.fake_vast_rules import ACTUAL_STATUSES, RateLimiter, cur_state


@dataclass
class Fault:
    kind: str
    path: str  # regex searched in the request path
    method: str | None
    times: int
    delay_s: float


class FakeVastMarket(VastCalls):
    """One account on the market: what it rents, what it is offered, and what it was asked."""

    def __init__(
        self,
        api_key: str,
        page_size: int = 25,
        new_status: str | None = "running",
        time_scale: float = 1.0,
        log_upload_s: float = 0.5,
    ) -> None:
        self.api_key = api_key
        self.page_size = page_size  # the page when a listing sends no limit (never over 25)
        self.new_status = new_status  # actual_status of instances as they are created
        self.time_scale = time_scale  # times every documented interval, penalty and period
        self.log_upload_s = log_upload_s  # until a log's result_url answers (times time_scale)
        self.url = ""  # where the log files are served (the server sets it)
        self.offers: dict[int, dict] = {}
        self.unschedulable: set[int] = set()  # offers whose machine cannot start an instance now
        self.instances: dict[int, dict] = {}
        self.launches: dict[int, Launch] = {}  # what each created instance's container runs
        self.images: dict[str, Image] = {}
        self.logs: dict[int, str] = {}  # instance id -> container log
        self.log_files: dict[str, tuple[float, str]] = {}  # result_url key -> (ready at, log)
        self.credit = 25.0
        self.lacks_credit = False
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) on arrival
        self.bodies: list[tuple[str, str, object]] = []  # (method, path, JSON body)
        self.violations: list[str] = []  # every request the docs forbid: rule and citation
        self.rate_limited: list[tuple[float, str]] = []  # (monotonic, "METHOD template")
        self.limiter = RateLimiter(time_scale)
        self.listing = Listing()
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

    def add_instance(self, label: str | None, status: str | None = "running", **fields) -> int:
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
            "cur_state": cur_state(status),
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
        """Any documented actual_status (fake_vast_rules.ACTUAL_STATUSES, None among them)."""
        if status not in ACTUAL_STATUSES:
            raise ValueError(f"{status!r} is not an actual_status Vast documents")
        with self.lock:
            row = self.instances[instance_id]
            row["actual_status"], row["cur_state"] = status, cur_state(status)
            row["status_msg"] = message

    def set_logs(self, instance_id: int, text: str) -> None:
        with self.lock:
            self.logs[instance_id] = text

    def register_image(self, image: str, entrypoint: list[str], cmd: list[str]) -> None:
        """The ENTRYPOINT and CMD of an image, for `launches` (others get placeholders)."""
        with self.lock:
            self.images[image] = Image(list(entrypoint), list(cmd))

    def env_of(self, instance_id: int) -> dict[str, str]:
        with self.lock:
            row = self.instances[instance_id]
            return {k: v for k, v in row.get("extra_env") or []}

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

    # -- requests, faults, violations ------------------------------------------------------------

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
        """A log by its result_url key; None until it is uploaded (docs: yaml/logs.yaml "The
        logs will be uploaded to S3 and can be retrieved from a generated URL")."""
        with self.lock:
            ready_at, text = self.log_files.get(key, (0.0, None))
        return text if time.monotonic() >= ready_at else None
