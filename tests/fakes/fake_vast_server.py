"""A small Vast.ai API on 127.0.0.1 that speaks the wire protocol the `vastai` SDK (1.9) uses.

Endpoints (read from vastai/api/*.py):
    POST   /api/v0/bundles/                      search: JSON filters, type, order, limit,
                                                 allocated_storage -> {"offers": [...]}
    PUT    /api/v0/asks/{offer}/                 create -> {"success": true, "new_contract": id}
    GET    /api/v1/instances/                    ?select_filters&order_by&limit[&after_token]
                                                 -> {"instances", "next_token", "total_instances"}
    PUT    /api/v0/instances/{id}/               {"label": ...} or {"state": ...}
    DELETE /api/v0/instances/{id}/               destroy
    PUT    /api/v0/instances/request_logs/{id}/  -> {"success", "result_url"} (served here too)
    GET    /api/v0/users/current                 the account (the SDK drops its api_key)

What each call means lives in `FakeVastMarket` (tests/fakes/fake_vast_market.py), which this
server is; here are the socket, the routing, the API key check, the faults as they reach the wire
and the pre-signed log URLs (no key needed).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.fakes.fake_vast_market import FakeVastMarket, Fault
from tests.fakes.http_base import MethodHandler


class FakeVastServer(FakeVastMarket):
    """`with FakeVastServer(api_key="k") as vast:`; point the SDK at `vast.url`."""

    def __init__(self, api_key: str, page_size: int = 100, new_status: str = "running") -> None:
        super().__init__(api_key, page_size=page_size, new_status=new_status)
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


def _handler_for(server: FakeVastServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        vast = server

    return Handler


class _Handler(MethodHandler):
    vast: FakeVastServer

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self._json(400, {"success": False, "error": "bad_json", "msg": "bad body"})
        self.vast.record(method, split.path, body)
        fault = self.vast.take_fault(method, split.path)
        if fault is not None:
            return self._inject(fault)
        if split.path.startswith("/logs/"):  # a pre-signed URL: no key needed
            return self._log_file(split.path)
        if self.headers.get("Authorization", "") != f"Bearer {self.vast.api_key}":
            msg = "Invalid api key"
            return self._json(401, {"success": False, "error": "auth_error", "msg": msg})
        status, payload = self._route(method, split.path, parse_qs(split.query), body)
        self._json(status, payload)

    def _route(self, method: str, path: str, query: dict, body: dict) -> tuple[int, object]:
        vast = self.vast
        if method == "POST" and path == "/api/v0/bundles/":
            return vast.search(body)
        if method == "GET" and path == "/api/v1/instances/":
            return vast.list_instances(query)
        if method == "GET" and path == "/api/v0/users/current":
            return vast.user()
        if match := re.fullmatch(r"/api/v0/asks/(\d+)/", path):
            if method == "PUT":
                return vast.create(int(match[1]), body)
        if match := re.fullmatch(r"/api/v0/instances/request_logs/(\d+)/", path):
            if method == "PUT":
                return vast.request_logs(int(match[1]), body)
        if match := re.fullmatch(r"/api/v0/instances/(\d+)/", path):
            if method == "PUT":
                return vast.update(int(match[1]), body)
            if method == "DELETE":
                return vast.destroy(int(match[1]))
        return 404, {"success": False, "error": "not_found", "msg": f"no route {method} {path}"}

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
        if text is None:
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
