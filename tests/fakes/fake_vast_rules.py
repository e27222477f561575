"""The rules of Vast's API as its documentation publishes them, as tables the fake enforces.

Sources are files of the vast-ai/docs repository (https://github.com/vast-ai/docs, read at
c624622, 2026-08-07), cited as `docs: <path> <where>`; `yaml/X` is short for
api-reference/openapi/yaml/X. A rule here comes from those files, never from what our client
sends: a client written from the docs alone must pass the fake, and ours must too. Launch
semantics are in fake_vast_launch.py, the listing's query rules in fake_vast_listing.py.
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from dataclasses import dataclass

RATE_DOC = "api-reference/rate-limits-and-errors.mdx"


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    template: str  # the documented path; `{id}` is an integer
    pattern: str  # what matches the path on the wire


_ID = r"(\d+)"
# docs: each yaml/X's `paths`. Where the docs and the SDK disagree on a trailing slash (logs,
# show_user) both spellings are accepted: the docs' own pages disagree too (x-cli-commands).
ENDPOINTS = (
    Endpoint("search_offers", "POST", "/api/v0/bundles/", "/api/v0/bundles/"),
    Endpoint("create_instance", "PUT", "/api/v0/asks/{id}/", f"/api/v0/asks/{_ID}/"),
    Endpoint("show_instances", "GET", "/api/v1/instances/", "/api/v1/instances/"),
    # label_instance.yaml and manage_instance.yaml: one PUT path for label and start/stop
    Endpoint("manage_instance", "PUT", "/api/v0/instances/{id}/", f"/api/v0/instances/{_ID}/"),
    # destroy_instance.yaml: `paths` has the slash, its x-cli-commands endpoint has none
    Endpoint("destroy_instance", "DELETE", "/api/v0/instances/{id}/", f"/api/v0/instances/{_ID}/?"),
    # logs.yaml documents no trailing slash; the vastai SDK sends one
    Endpoint(
        "logs",
        "PUT",
        "/api/v0/instances/request_logs/{id}",
        f"/api/v0/instances/request_logs/{_ID}/?",
    ),
    # show_user.yaml documents the slash; the vastai SDK sends none
    Endpoint("show_user", "GET", "/api/v0/users/current/", "/api/v0/users/current/?"),
)


def find_endpoint(method: str, path: str) -> tuple[Endpoint, int | None] | None:
    """The documented endpoint a request is for, and the `{id}` of its path."""
    for endpoint in ENDPOINTS:
        if endpoint.method == method and (match := re.fullmatch(endpoint.pattern, path)):
            return endpoint, int(match[1]) if match.groups() else None
    return None


# -- rate limits ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimit:
    source: str
    interval_s: float = 0.0  # minimum interval between two requests
    penalty_s: float = 0.0  # after a refused request, every request is refused this long
    calls: int = 0  # at most this many requests ...
    period_s: float = 0.0  # ... in any window this long


# docs: RATE_DOC "How rate limits are applied": limits are per endpoint and per identity, "a
# minimum interval between requests", some "method-specific", some "max-calls-per-period". The
# values are each file's `x-rate-limit`. logs.yaml and show_user.yaml publish none: none here.
RATE_LIMITS: dict[tuple[str, str], RateLimit] = {
    ("PUT", "/api/v0/asks/{id}/"): RateLimit(
        "yaml/create_instance.yaml x-rate-limit (threshold 4.5, penalty 12)", 4.5, penalty_s=12.0
    ),
    ("DELETE", "/api/v0/instances/{id}/"): RateLimit(
        "yaml/destroy_instance.yaml x-rate-limit (threshold 3.0)", 3.0
    ),
    # one limit for the PUT of label and of start/stop: the same method on the same endpoint
    ("PUT", "/api/v0/instances/{id}/"): RateLimit(
        "yaml/label_instance.yaml, yaml/manage_instance.yaml x-rate-limit (threshold 1.0)", 1.0
    ),
    ("GET", "/api/v1/instances/"): RateLimit(
        "yaml/show_instances.yaml x-rate-limit (threshold 1.0)", 1.0
    ),
    ("POST", "/api/v0/bundles/"): RateLimit(
        "yaml/search_offers.yaml x-rate-limit (10 requests per minute)", calls=10, period_s=60.0
    ),
}


class RateLimiter:
    """Vast's limits per (identity, method, endpoint), every duration times `scale`.

    Only a request the limiter lets through starts an interval or fills a window, whatever its
    answer (a 400 too): the docs bound the interval "between requests" and do not say whether a
    refused one counts; this reading refuses the fewest requests a paced client sends. A refused
    request on an endpoint with a penalty (create: 12 s) refuses every request for the penalty
    from that refusal, a refused one during the penalty too; so a client must wait out the
    penalty after its last 429.
    """

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str, str], float] = {}
        self._penalty_until: dict[tuple[str, str, str], float] = {}
        self._windows: dict[tuple[str, str, str], deque[float]] = {}

    def admit(self, identity: str, method: str, template: str, now: float) -> RateLimit | None:
        """None if the request may pass, else the limit it broke."""
        limit = RATE_LIMITS.get((method, template))
        if limit is None:
            return None
        key = (identity, method, template)
        with self._lock:
            window = self._windows.setdefault(key, deque())
            while window and window[0] <= now - limit.period_s * self.scale:
                window.popleft()
            refused = (
                now < self._penalty_until.get(key, -math.inf)
                or now - self._last.get(key, -math.inf) < limit.interval_s * self.scale
                or (limit.calls > 0 and len(window) >= limit.calls)
            )
            if refused:
                if limit.penalty_s:
                    self._penalty_until[key] = now + limit.penalty_s * self.scale
                return limit
            self._last[key] = now
            window.append(now)
        return None


def too_frequent(limit: RateLimit) -> str:
    """The 429 body. docs: RATE_DOC "Rate limit response behavior": "often plain text (in certain
    cases JSON ...)" with one of two messages, and no Retry-After ("The API does not currently set
    standard rate-limit headers"). Some yaml files show a JSON 429 ({"detail": ...}); plain text is
    the form the page calls usual and the one a client can least parse by accident."""
    if limit.interval_s:
        return f"API requests too frequent: endpoint threshold={limit.interval_s}"
    return "API requests too frequent"


# -- statuses ------------------------------------------------------------------------------------

CLI_SHOW = "cli/reference/show-instances-v1.mdx"
# docs: CLI_SHOW "actual_status" table (null: being provisioned; offline is computed by Vast)
ACTUAL_STATUSES = (
    None,
    "loading",
    "running",
    "stopped",
    "frozen",
    "exited",
    "rebooting",
    "unknown",
    "offline",
)
INTENDED_STATUSES = ("running", "stopped", "frozen")  # docs: CLI_SHOW "intended_status"
# docs: yaml/manage_instance.yaml requestBody state enum
MANAGE_STATES = ("stopped", "running")
# docs: yaml/create_instance.yaml target_state enum
TARGET_STATES = ("running", "stopped")


def cur_state(actual: str | None) -> str:
    """docs: CLI_SHOW "cur_state": the contract's state, running, stopped or unloaded."""
    return "stopped" if actual == "stopped" else "running"


# -- create_instance input validation ------------------------------------------------------------

CREATE = "yaml/create_instance.yaml"
# docs: CREATE runtype enum; api-reference/creating-instances-with-api.mdx "Runtype and Connection
# Options". The SDK sends combinations ("jupyter_proxy ssh_proxy"), and spells direct as
# "ssh_direc" / "jupyter_direc", the spelling of yaml/show_instances.yaml's image_runtype example
# ("ssh ssh_direc ssh_proxy"): a space-separated list of these is accepted.
RUNTYPES = (
    "ssh",
    "jupyter",
    "args",
    "ssh_proxy",
    "ssh_direct",
    "jupyter_proxy",
    "jupyter_direct",
    "ssh_direc",
    "jupyter_direc",
)
IMAGE_MAX = 1024  # docs: CREATE x-input-validation image.max_length
LABEL_MAX = 256  # docs: CREATE x-input-validation label.max_length
ENV_VALUE_MAX = 256  # docs: CREATE x-input-validation env.max_length
ENV_TOTAL_MAX = 32768  # docs: CREATE x-input-validation env.max_total_length
ARGS_MAX = 4096  # docs: CREATE x-input-validation args ("Combined length of args, args_str and
# onstart")
PRICE_MIN, PRICE_MAX = 0.001, 128.0  # docs: CREATE x-input-validation price; requestBody price
DISK_MIN = 8.0  # docs: CREATE x-input-validation disk.min


def create_problem(body: dict, env: dict[str, str]) -> tuple[str, str] | None:
    """The first way a create body breaks the docs, as (message, citation); None if it is fine.
    `env` is the body's env already read (fake_vast_launch.read_env)."""
    image = body.get("image")
    if image is None and not body.get("template_hash_id"):
        return "'image' is required", f"{CREATE} requestBody required: image"
    for field, limit in (("image", IMAGE_MAX), ("label", LABEL_MAX)):
        value = body.get(field)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            return f"'{field}' must be a string of at most {limit} characters", (
                f"{CREATE} x-input-validation {field}.max_length"
            )
    if problem := _env_problem(env):
        return problem
    if problem := _launch_problem(body):
        return problem
    return _number_problem(body)


def _env_problem(env: dict[str, str]) -> tuple[str, str] | None:
    for key, value in env.items():
        if len(value) > ENV_VALUE_MAX:
            return f"env value of {key[:40]} is {len(value)} characters, over {ENV_VALUE_MAX}", (
                f"{CREATE} x-input-validation env.max_length"
            )
    # the total counts every key and value: the docs do not say which, and this is the larger
    total = sum(len(k) + len(v) for k, v in env.items())
    if total > ENV_TOTAL_MAX:
        return f"env is {total} characters in all, over {ENV_TOTAL_MAX}", (
            f"{CREATE} x-input-validation env.max_total_length"
        )
    return None


def _launch_problem(body: dict) -> tuple[str, str] | None:
    args, args_str, onstart = body.get("args"), body.get("args_str"), body.get("onstart")
    if args is not None and not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        return "'args' must be an array of strings", f"{CREATE} requestBody args"
    for field, value in (("args_str", args_str), ("onstart", onstart)):
        if value is not None and not isinstance(value, str):
            return f"'{field}' must be a string", f"{CREATE} requestBody {field}"
    combined = len(" ".join(args or [])) + len(args_str or "") + len(onstart or "")
    if combined > ARGS_MAX:
        return f"args, args_str and onstart are {combined} characters, over {ARGS_MAX}", (
            f"{CREATE} x-input-validation args.max_length"
        )
    runtype = body.get("runtype")
    if runtype is not None and (
        not isinstance(runtype, str)
        or not runtype.split()
        or not set(runtype.split()) <= set(RUNTYPES)
    ):
        return f"runtype {runtype!r} is not one of {', '.join(RUNTYPES)}", (
            f"{CREATE} requestBody runtype enum"
        )
    target = body.get("target_state")
    if target is not None and target not in TARGET_STATES:
        return f"target_state {target!r} is not running or stopped", (
            f"{CREATE} requestBody target_state enum"
        )
    return None


def _number_problem(body: dict) -> tuple[str, str] | None:
    price, disk = body.get("price"), body.get("disk")
    if price is not None and not (_number(price) and PRICE_MIN <= price <= PRICE_MAX):
        return f"price {price!r} is not within {PRICE_MIN}..{PRICE_MAX}", (
            f"{CREATE} x-input-validation price"
        )
    if disk is not None and not (_number(disk) and disk >= DISK_MIN):
        return f"disk {disk!r} is under {DISK_MIN} GB", f"{CREATE} x-input-validation disk.min"
    return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- label / manage ------------------------------------------------------------------------------

LABEL_INSTANCE_MAX = 1024  # docs: yaml/label_instance.yaml x-input-validation label.max_length
LABEL_TOO_LONG = {  # docs: yaml/label_instance.yaml 400 (error enum label_too_long, msg example)
    "success": False,
    "error": "label_too_long",
    "msg": "Please limit label length to 1024 characters, ideally less than 128.",
}


def manage_problem(body: dict) -> tuple[str, str] | None:
    """docs: yaml/manage_instance.yaml requestBody ("At least one of these parameters should be
    provided": state in {stopped, running}, label a string)."""
    if "label" not in body and "state" not in body:
        return "give a label or a state", "yaml/manage_instance.yaml requestBody"
    if "state" in body and body["state"] not in MANAGE_STATES:
        return f"state {body['state']!r} is not stopped or running", (
            "yaml/manage_instance.yaml requestBody state enum"
        )
    if "label" in body and not isinstance(body["label"], str):
        return "'label' must be a string", "yaml/label_instance.yaml requestBody label"
    return None


# -- search_offers -------------------------------------------------------------------------------

SEARCH = "yaml/search_offers.yaml"
# docs: SEARCH requestBody type enum, and its example's "on-demand"
OFFER_TYPES = ("ondemand", "on-demand", "bid", "reserved")
SEARCH_OPS = (
    "eq",
    "neq",
    "gt",
    "lt",
    "gte",
    "lte",
    "in",
    "notin",
)  # docs: SEARCH "Filter operators"
SEARCH_SETTINGS = ("type", "order", "limit", "allocated_storage", "disable_bundling")
# docs: SEARCH requestBody verified, rentable, rented `default`
SEARCH_DEFAULTS = {"verified": {"eq": True}, "rentable": {"eq": True}, "rented": {"eq": False}}
ALLOCATED_STORAGE_DEFAULT = 8.0  # docs: SEARCH allocated_storage "Default is 8GB"


def search_problem(body: dict) -> tuple[str, str] | None:
    """The first way a search body breaks the docs, as (message, citation); None if fine."""
    if body.get("type", "ondemand") not in OFFER_TYPES:
        return f"type {body['type']!r} is not one of {OFFER_TYPES}", f"{SEARCH} type enum"
    order = body.get("order", [])
    if not isinstance(order, list) or not all(_order_entry(o) for o in order):
        return "order must be a list of [field, asc|desc]", f"{SEARCH} requestBody order"
    limit = body.get("limit")
    if limit is not None and not (isinstance(limit, int) and limit > 0):
        return f"limit {limit!r} is not a positive integer", f"{SEARCH} requestBody limit"
    for field, condition in body.items():
        if field in SEARCH_SETTINGS:
            continue
        # "Each filter parameter ... should be an object specifying the operator and value"
        if not isinstance(condition, dict) or not set(condition) <= set(SEARCH_OPS):
            return f"filter {field} is not an object of operators", f"{SEARCH} description"
    return None


def _order_entry(entry: object) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 2
        and isinstance(entry[0], str)
        and entry[1] in ("asc", "desc")
    )
