"""The instance listing, `GET /api/v1/instances/`, as yaml/show_instances.yaml documents it.

docs: yaml/show_instances.yaml parameters and responses (sources as in fake_vast_rules.py):
- `limit`: "Default 25, max 25. Values <= 0 are treated as 5"; over 25 is refused (the
  parameter's `maximum`) with a 400 `invalid_request`.
- `after_token`: "Keyset pagination cursor from the previous response's next_token. An invalid
  token returns a 400 error" (`invalid_token`). Tokens here are random and kept server-side, so a
  client can only use the ones it was given.
- `order_by`: JSON array of {"col", "dir"}; dir asc or desc, "anything else treated as asc"; "id
  is always appended as a tiebreaker"; an invalid column is a 400.
- `select_filters`: JSON object of column: {operator: value}, operators eq, neq, gt, gte, lt, lte,
  in, notin, on "columns stored directly on the contract record"; "Computed fields (e.g.
  dph_total, num_gpus) are not filterable and return 400".
- `select_cols`: JSON array; ["*"] (the default) for all; "Unknown column names are returned as
  null".
- 200: {success, instances_found (this page), total_instances (all matching), label_counts
  (unlabelled keyed by ""), next_token (null when no more pages), instances}.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading

LIMIT_DEFAULT = LIMIT_MAX = 25
LIMIT_NONPOSITIVE = 5
# docs: yaml/show_instances.yaml 200 instances.items.properties, the fields an instance has
DOCUMENTED_FIELDS = frozenset(
    "id actual_status cur_state next_state intended_status label template_id template_hash_id "
    "template_name image_uuid image_args image_runtype extra_env onstart jupyter_token status_msg "
    "public_ipaddr local_ipaddrs ssh_host ssh_idx ssh_port machine_dir_ssh_port machine_id "
    "start_date end_date uptime_mins duration cpu_arch cpu_cores cpu_cores_effective cpu_name "
    "cpu_ram cpu_util mem_limit mem_usage vmem_usage gpu_name gpu_arch gpu_totalram gpu_ram "
    "gpu_util gpu_temp gpu_frac gpu_lanes gpu_mem_bw bw_nvlink disk_name disk_space disk_bw "
    "disk_util disk_usage direct_port_count direct_port_start direct_port_end ports static_ip "
    "geolocation verification rentable host_id min_bid is_bid dph_base dph_total dlperf "
    "dlperf_per_dphtotal flops_per_dphtotal total_flops score reliability2 os_version mobo_name "
    "pci_gen pcie_bw num_gpus webpage search instance storage_cost storage_total_cost "
    "vram_costperhour credit_balance credit_discount credit_discount_max client_run_time "
    "host_run_time external time_remaining time_remaining_isbid country_code volume_info".split()
)
# docs: select_filters names these two as computed; the others it does not name are taken as
# stored (the docs: "and other columns stored directly on the contract record")
COMPUTED = frozenset({"dph_total", "num_gpus"})
FILTERABLE = DOCUMENTED_FIELDS - COMPUTED
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


class BadQuery(ValueError):
    def __init__(self, error: str, msg: str) -> None:
        super().__init__(msg)
        self.error, self.msg = error, msg


class Listing:
    """Keyset pages over an account's instances; `rows` maps an instance's id to its row."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cursors: dict[str, tuple[str, tuple]] = {}  # token -> (order_by, last row's key)

    def page(self, rows: dict[int, object], query: dict[str, list[str]], default_limit: int):
        """(200, payload) or raises BadQuery."""
        limit = _limit(query, default_limit)
        order = _order(_json_param(query, "order_by", []))
        filters = _filters(_json_param(query, "select_filters", {}))
        cols = _json_param(query, "select_cols", ["*"])
        found = [(k, r) for k, r in rows.items() if _matches(r, filters)]
        ordered = sorted(found, key=functools.cmp_to_key(lambda a, b: _compare(a, b, order)))
        if "after_token" in query:
            last = self._cursor(query["after_token"][0], order)
            ordered = [kr for kr in ordered if _compare_key(_key(kr, order), last, order) > 0]
        page, more = ordered[:limit], len(ordered) > limit
        token = self._new_cursor(order, _key(page[-1], order)) if more and page else None
        return 200, {
            "success": True,
            "instances_found": len(page),
            "total_instances": len(found),
            "label_counts": _label_counts(r for _, r in found),
            "next_token": token,
            "instances": [_columns(r, cols) for _, r in page],
        }

    def _new_cursor(self, order: list[tuple[str, str]], key: tuple) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._cursors[token] = (json.dumps(order), key)
        return token

    def _cursor(self, token: str, order: list[tuple[str, str]]) -> tuple:
        with self._lock:
            made = self._cursors.get(token)
        # a token is for the order it was made with: its key means nothing in another
        if made is None or made[0] != json.dumps(order):
            raise BadQuery("invalid_token", "Invalid after_token")
        return made[1]


def _json_param(query: dict[str, list[str]], name: str, default: object) -> object:
    if name not in query:
        return default
    try:
        return json.loads(query[name][0])
    except ValueError:
        raise BadQuery(
            "invalid_request", f"Error in query parameters: {name} is not JSON"
        ) from None


def _limit(query: dict[str, list[str]], default: int) -> int:
    if "limit" not in query:
        return min(default, LIMIT_MAX)
    try:
        limit = int(query["limit"][0])
    except ValueError:
        raise BadQuery("invalid_request", "Error in query parameters: limit") from None
    if limit > LIMIT_MAX:
        raise BadQuery("invalid_request", f"Error in query parameters: limit max is {LIMIT_MAX}")
    return limit if limit > 0 else LIMIT_NONPOSITIVE


def _order(order_by: object) -> list[tuple[str, str]]:
    if not isinstance(order_by, list) or not all(isinstance(o, dict) for o in order_by):
        raise BadQuery("invalid_request", "Error in query parameters: order_by")
    order = []
    for directive in order_by:
        col = directive.get("col")
        if col not in DOCUMENTED_FIELDS:
            raise BadQuery("invalid_request", f"Error in query parameters: {col} is not a column")
        order.append((col, "desc" if directive.get("dir") == "desc" else "asc"))
    return order


def _filters(select_filters: object) -> list[tuple[str, str, object]]:
    if not isinstance(select_filters, dict):
        raise BadQuery("invalid_request", "Error in query parameters: select_filters")
    filters = []
    for col, condition in select_filters.items():
        if col not in FILTERABLE:
            msg = f"Error in query parameters: {col} is not a valid search key"
            raise BadQuery("invalid_request", msg)
        if not isinstance(condition, dict):
            raise BadQuery("invalid_request", f"Error in query parameters: {col} needs operators")
        for op, value in condition.items():
            if op not in OPS or (op in ("in", "notin") and not isinstance(value, list)):
                msg = f"Error in query parameters: {op} on {col}"
                raise BadQuery("invalid_request", msg)
            filters.append((col, op, value))
    return filters


def _matches(row: object, filters: list[tuple[str, str, object]]) -> bool:
    for col, op, value in filters:
        mine = row.get(col) if isinstance(row, dict) else None
        try:
            if not OPS[op](mine, value):
                return False
        except TypeError:  # None > 3, and the like: no match, as SQL's NULL
            return False
    return True


def _key(item: tuple[int, object], order: list[tuple[str, str]]) -> tuple:
    key, row = item
    values = [row.get(col) if isinstance(row, dict) else None for col, _ in order]
    return (*values, key)  # the id last: the documented tiebreaker


def _compare(a: tuple[int, object], b: tuple[int, object], order: list[tuple[str, str]]) -> int:
    return _compare_key(_key(a, order), _key(b, order), order)


def _compare_key(a: tuple, b: tuple, order: list[tuple[str, str]]) -> int:
    directions = [d for _, d in order] + ["asc"]
    for x, y, direction in zip(a, b, directions, strict=True):
        sign = _compare_values(x, y)
        if sign:
            return -sign if direction == "desc" else sign
    return 0


def _compare_values(x: object, y: object) -> int:
    if x == y:
        return 0
    if x is None or y is None:  # nulls first
        return -1 if x is None else 1
    try:
        return -1 if x < y else 1  # type: ignore[operator]
    except TypeError:
        return -1 if (type(x).__name__, str(x)) < (type(y).__name__, str(y)) else 1


def _label_counts(rows) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        if isinstance(row, dict):
            label = row.get("label")
            name = "" if label is None else str(label)
            counts[name] = counts.get(name, 0) + 1
    return counts


def _columns(row: object, cols: object) -> object:
    if not isinstance(row, dict):
        return row
    if not isinstance(cols, list) or "*" in cols:
        return dict(row)  # a copy: the row may change while the answer is being sent
    return {col: row.get(col) for col in cols}
