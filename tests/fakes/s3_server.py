"""A real S3 server on 127.0.0.1 (moto's server mode: the S3 wire protocol, in memory) behind a
proxy that injects the faults S3 documents.

The proxy forwards every request to moto as it came and answers some instead, as S3 would under
load: `503 SlowDown` with S3's XML error body ("Please reduce your request rate", AWS S3 API
Reference, "Error responses"), `500 InternalError`, or a dropped connection. Faults are counted
per request: `add_fault("SlowDown", method="PUT", times=3)`.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

from moto.server import ThreadedMotoServer

from tests.fakes.http_base import MethodHandler

BUCKET = "zeb-examples"
KEYS = {"aws_access_key_id": "zebtestkey", "aws_secret_access_key": "zebtestsecretDoNotPrint"}
_ERRORS = {  # code -> (status, message), as S3's "Error responses" list them
    "SlowDown": (503, "Please reduce your request rate."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
}


@dataclass
class S3Fault:
    code: str  # "SlowDown", "InternalError" or "reset"
    method: str | None
    path: str  # regex searched in the request path
    times: int


class S3Server:
    """moto behind the fault proxy; `url` is the proxy's."""

    def __init__(self) -> None:
        self.faults: list[S3Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._proxy = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._proxy.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._proxy.server_address[1]}"

    def start(self) -> S3Server:
        self._moto.start()
        self.upstream = self._moto.get_host_and_port()
        # moto keeps its state per process, not per server: start every server empty
        reset = http.client.HTTPConnection(*self.upstream, timeout=30)
        reset.request("POST", "/moto-api/reset")
        reset.getresponse().read()
        reset.close()
        threading.Thread(target=self._proxy.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._proxy.shutdown()
        self._proxy.server_close()
        self._moto.stop()

    def add_fault(self, code: str, method: str | None = None, path: str = "", times: int = 1):
        with self.lock:
            self.faults.append(S3Fault(code, method, path, times))

    def take_fault(self, method: str, path: str) -> S3Fault | None:
        with self.lock:
            self.requests.append((method, path))
            for fault in self.faults:
                if fault.times > 0 and fault.method in (None, method):
                    if re.search(fault.path, path):
                        fault.times -= 1
                        return fault
        return None

    def client(self, **config):
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", **KEYS, **config)


def _handler_for(server: S3Server) -> type:
    return type("Handler", (_Proxy,), {"server_ref": server})


class _Proxy(MethodHandler):
    server_ref: S3Server
    protocol_version = "HTTP/1.1"

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        fault = self.server_ref.take_fault(method, self.path)
        if fault is not None:
            return self._inject(fault)
        host, port = self.server_ref.upstream
        upstream = http.client.HTTPConnection(host, port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        headers["Host"] = f"{host}:{port}"
        upstream.request(method, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)
        upstream.close()

    def _inject(self, fault: S3Fault) -> None:
        if fault.code == "reset":
            self.close_connection = True
            return
        status, message = _ERRORS[fault.code]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Error><Code>{fault.code}</Code><Message>{message}</Message>"
            "<RequestId>zebfake</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    try:
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()
