"""What every fake HTTP server of the tests shares: a quiet handler that sends each method to
one `_serve(method)`."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class MethodHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        raise NotImplementedError
