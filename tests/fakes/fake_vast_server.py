"""A small Vast.ai API on 127.0.0.1 that follows Vast's documentation, for the `vastai` SDK.

Endpoints (fake_vast_rules.ENDPOINTS, each from its file in api-reference/openapi/yaml/):
    POST   /api/v0/bundles/                      search -> {"offers": [...]}
    PUT    /api/v0/asks/{id}/                    create -> {"success": true, "new_contract": id}
    GET    /api/v1/instances/                    ?limit&after_token&order_by&select_filters
                                                 &select_cols -> keyset pages of at most 25
    PUT    /api/v0/instances/{id}/               {"label": ...} and/or {"state": ...}
    DELETE /api/v0/instances/{id}/               destroy
    PUT    /api/v0/instances/request_logs/{id}   -> {"success", "result_url"}; the URL answers
                                                 404 until the log is "uploaded", then the text
    GET    /api/v0/users/current/                id, key_id, email, balance, ssh_key, sid

Per request, in this order: recorded; an injected fault; the route (an undocumented one is a
404); the key (Bearer header or `api_key` query, yaml/destroy_instance.yaml); the rate limit of
the endpoint and method for that key (429, plain text, no Retry-After); then the call
(fake_vast_calls.py). A refused request is answered as Vast would and, but for faults, recorded
in `violations` with its rule's source; a rate-limit trip also in `rate_limited`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.fakes.fake_vast_market import FakeVastMarket, Fault
from tests.fakes.fake_vast_rules import RATE_DOC, Endpoint, find_endpoint, too_frequent
from tests.fakes.http_base import MethodHandler

Answer = tuple[int, object]


class FakeVastServer(FakeVastMarket):
    """`with FakeVastServer(api_key="k") as vast:`; point the SDK at `vast.url`."""

    def __init__(
        self,
        api_key: str,
        page_size: int = 25,
        new_status: str | None = "running",
        time_scale: float = 1.0,
        log_upload_s: float = 0.5,
    ) -> None:
        super().__init__(api_key, page_size, new_status, time_scale, log_upload_s)
        self._closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = False
        self._httpd.block_on_close = True  # server_close() joins every handler thread
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeVastServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()  # wakes hanging requests
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def hold(self, seconds: float) -> None:
        """Hold a hanging request; closing the server lets it go at once."""
        self._closing.wait(seconds)

    def answer(self, endpoint: Endpoint, item: int | None, query: dict, body: object) -> Answer:
        """The documented call, once the key and the rate limit let the request through."""
        if endpoint.method != "GET" and not isinstance(body, dict):
            where = f"{endpoint.method} {endpoint.template}"
            self.violate(where, "the body is not a JSON object", "yaml/search_offers.yaml 400")
            return 400, {"error": "invalid_request", "msg": "Invalid json body"}
        calls = {
            "search_offers": lambda: self.search(body),
            "create_instance": lambda: self.create(item, body),
            "show_instances": lambda: self.list_instances(query),
            "manage_instance": lambda: self.update(item, body),
            "destroy_instance": lambda: self.destroy(item),
            "logs": lambda: self.request_logs(item, body),
            "show_user": lambda: self.user(),
        }
        return calls[endpoint.name]()

    def trip(self, endpoint: Endpoint, source: str) -> None:
        where = f"{endpoint.method} {endpoint.template}"
        with self.lock:
            self.rate_limited.append((time.monotonic(), where))
        self.violate(where, "rate limited", f"{source}; {RATE_DOC}")


def _handler_for(server: FakeVastServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        vast = server

    return Handler


class _Handler(MethodHandler):
    vast: FakeVastServer

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        self.vast.record(method, split.path, body)
        fault = self.vast.take_fault(method, split.path)
        if fault is not None:
            return self._inject(fault)
        if method == "GET" and split.path.startswith("/logs/"):  # a pre-signed URL: no key
            return self._log_file(split.path)
        found = find_endpoint(method, split.path)
        if found is None:
            source = "no such path and method in api-reference/openapi/yaml/"
            self.vast.violate(f"{method} {split.path}", "undocumented endpoint", source)
            msg = f"no route {method} {split.path}"
            return self._json(404, {"success": False, "error": "not_found", "msg": msg})
        endpoint, item = found
        key = self._key(query)
        if key != self.vast.api_key:
            return self._unauthorized(endpoint)
        # docs: RATE_DOC: the identity is the bearer token, session user, api_key and client IP;
        # here every client is 127.0.0.1 without a session, so the key is the identity
        limit = self.vast.limiter.admit(key, method, endpoint.template, time.monotonic())
        if limit is not None:
            self.vast.trip(endpoint, limit.source)
            return self._send(429, too_frequent(limit).encode(), "text/plain")
        status, payload = self.vast.answer(endpoint, item, query, body)
        self._json(status, payload)

    def _key(self, query: dict[str, list[str]]) -> str | None:
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header.removeprefix("Bearer ")
        return query.get("api_key", [None])[0]

    def _unauthorized(self, endpoint: Endpoint) -> None:
        where = f"{endpoint.method} {endpoint.template}"
        if endpoint.name == "search_offers":  # search_offers.yaml answers a bad key with a 404
            self.vast.violate(where, "missing or wrong API key", "yaml/search_offers.yaml 404")
            return self._json(404, {"error": "auth_error", "msg": "Invalid user key"})
        self.vast.violate(
            where, "missing or wrong API key", f"yaml/{endpoint.name}.yaml security, 401"
        )
        self._json(401, {"success": False, "error": "auth_error", "msg": "Invalid api key"})

    def _inject(self, fault: Fault) -> None:
        if fault.kind == "hang":
            self.vast.hold(fault.delay_s)
        if fault.kind in ("hang", "reset"):
            self.close_connection = True
            return
        if fault.kind == "malformed":
            return self._send(
                200, b'{"instances": [ {"id": 1, trailing garbage', "application/json"
            )
        status = int(fault.kind)
        self._json(status, {"success": False, "error": f"injected_{status}", "msg": "injected"})

    def _log_file(self, path: str) -> None:
        text = self.vast.log_file(path.removeprefix("/logs/").removesuffix(".log"))
        if text is None:  # S3's answer for an object not (yet) uploaded
            return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        self._send(200, text.encode(), "text/plain")

    def _json(self, status: int, payload: object) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timed out): that is the point of a hang
