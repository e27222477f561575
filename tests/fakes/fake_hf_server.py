"""A small Hugging Face Hub on 127.0.0.1 that speaks the wire protocol `huggingface_hub` uses.

Endpoints (what `HfHub` calls, read from huggingface_hub 2.x):
    POST /api/repos/create                                  create_repo (409 if it exists)
    GET  /api/{models|datasets}/{repo}[/revision/{rev}]     repo_info -> {"sha", ...}
    POST /api/{type}s/{repo}/preupload/{rev}                every file "regular" (no LFS, no Xet)
    POST /api/{type}s/{repo}/commit/{rev}                   NDJSON: header, file, deletedFile
    GET  /api/{type}s/{repo}/tree/{rev}[/{path}]            recursive listing, Link-header pages
    POST /api/{type}s/{repo}/paths-info/{rev}               form: paths=..., expand=...
    HEAD|GET /[datasets/]{repo}/resolve/{rev}/{path}        X-Repo-Commit, ETag, Content-Length

Every commit is kept, so any old revision can be read. Faults are injected per request:
`add_fault("503", path="/commit/", times=2)`; kinds are an HTTP status ("429", "412", "500", ...),
"timeout" (hold the request, then drop it unprocessed), "slow" (hold it, then process it: the
client has given up, so its retry repeats a commit that landed), "reset" (close the connection
without a response) and "malformed" (200 with broken JSON). Hugging Face's rate limits are opt-in:
`FakeHfServer(limits=HfLimits(tier="free", time_scale=60))` (see fake_hf_limits.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.fake_hf_limits import HfLimits
from tests.fakes.http_base import MethodHandler

_API = re.compile(r"^/api/(models|datasets)/([^/]+/[^/]+)(?:/(\w[\w-]*)(?:/([^/]+)(/.*)?)?)?$")
_RESOLVE = re.compile(r"^/(?:(datasets)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


def git_hash(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    oid: str
    title: str
    files: dict[str, bytes]
    last: dict[str, str]  # path -> oid of the commit that last wrote it
    date: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


@dataclass
class FakeRepo:
    private: bool
    commits: list[Commit]

    def at(self, rev: str) -> Commit | None:
        if rev == "main":
            return self.commits[-1]
        return next((c for c in self.commits if c.oid == rev), None)


@dataclass
class Fault:
    kind: str
    path: str  # regex searched in the request path
    method: str | None
    times: int
    delay_s: float


class FakeHfServer:
    """Start with `with FakeHfServer(token="hf_x") as server:`; point clients at `server.url`."""

    def __init__(
        self, token: str | None = None, page_size: int = 1000, limits: HfLimits | None = None
    ) -> None:
        self.token = token
        self.page_size = page_size
        # Hugging Face's rate limits (fake_hf_limits.py): opt-in, None (the default) limits nothing.
        # May be set later too: `server.limits = HfLimits(tier="free", time_scale=60)`.
        self.limits = limits
        self.repos: dict[tuple[str, str], FakeRepo] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, on arrival
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every answer
        self.auth_seen: set[str] = set()
        self.lock = threading.RLock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeHfServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- test helpers ----------------------------------------------------------------------------

    def add_fault(
        self, kind: str, path: str = "", method: str | None = None, times: int = 1, delay_s=1.5
    ) -> None:
        with self.lock:
            self.faults.append(Fault(kind, path, method, times, delay_s))

    def files(self, repo_id: str, repo_type: str = "model") -> dict[str, bytes]:
        with self.lock:
            return dict(self.repos[(repo_type, repo_id)].commits[-1].files)

    def commits(self, repo_id: str, repo_type: str = "model") -> list[Commit]:
        with self.lock:
            return list(self.repos[(repo_type, repo_id)].commits)

    def count(self, method: str, pattern: str) -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and re.search(pattern, p))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and (fault.method in (None, method)):
                    if re.search(fault.path, path):
                        fault.times -= 1
                        return fault
        return None

    # -- the hub's behaviour ---------------------------------------------------------------------

    def create(self, body: dict) -> tuple[int, dict]:
        repo_type = body.get("type") or "model"
        repo_id = f"{body['organization']}/{body['name']}" if body.get("organization") else None
        if repo_id is None:
            return 400, {"error": "this fake needs an organization/name repo id"}
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.url}/{prefix}{repo_id}"
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                return 409, {"error": "You already created this repo", "url": url}
            private = body.get("private", body.get("visibility") != "public")
            first = {".gitattributes": b"*.pt filter=lfs diff=lfs merge=lfs -text\n"}
            oid = hashlib.sha1(f"init {repo_id}".encode()).hexdigest()
            root = Commit(oid, "initial commit", first, dict.fromkeys(first, oid))
            self.repos[(repo_type, repo_id)] = FakeRepo(bool(private), [root])
        return 200, {"url": url, "name": repo_id}

    def commit(self, repo: FakeRepo, url: str, rev: str, ndjson: bytes) -> tuple[int, dict, dict]:
        lines = [json.loads(line) for line in ndjson.splitlines() if line.strip()]
        header = lines[0]["value"] if lines and lines[0]["key"] == "header" else {}
        with self.lock:
            base = repo.at(rev)
            if base is None or rev != "main":
                return 404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"}
            parent = header.get("parentCommit")
            if parent and not base.oid.startswith(parent):
                return (
                    412,
                    {"error": "A commit has happened since. Please refresh and try again."},
                    {},
                )
            files, last = dict(base.files), dict(base.last)
            oid = hashlib.sha1(f"{base.oid}{time.time_ns()}{len(lines)}".encode()).hexdigest()
            for line in lines[1:]:
                key, value = line["key"], line["value"]
                if key == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                    last[value["path"]] = oid
                elif key == "deletedFile":
                    if value["path"] not in files:
                        err = {"error": "A file with this name doesn't exist"}
                        return 404, err, {"X-Error-Code": "EntryNotFound"}
                    del files[value["path"]], last[value["path"]]
                else:
                    return 400, {"error": f"this fake does not support {key!r} operations"}, {}
            repo.commits.append(Commit(oid, header.get("summary", ""), files, last))
        return 200, {"success": True, "commitOid": oid, "commitUrl": f"{url}/commit/{oid}"}, {}

    @staticmethod
    def entry(repo: FakeRepo, commit: Commit, path: str, expand: bool) -> dict:
        data = commit.files[path]
        out = {"type": "file", "path": path, "size": len(data), "oid": git_hash(data)}
        if expand:
            owner = repo.at(commit.last[path])
            assert owner is not None
            out["lastCommit"] = {"id": owner.oid, "title": owner.title, "date": owner.date}
        return out


def _handler_for(server: FakeHfServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        hub = server

    return Handler


class _Handler(MethodHandler):
    hub: FakeHfServer

    # -- plumbing --------------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        self.query = parse_qs(split.query)
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        with self.hub.lock:
            self.hub.requests.append((method, split.path))
        fault = self.hub.take_fault(method, split.path)
        if fault is not None and self._inject(fault, method, split.path):
            return
        auth = self.headers.get("Authorization", "")
        self.hub.auth_seen.add(auth)
        if self.hub.token is not None and auth != f"Bearer {self.hub.token}":
            headers = {"X-Error-Message": "Invalid credentials in Authorization header"}
            return self._json(method, split.path, 401, {"error": "Invalid credentials"}, headers)
        limits = self.hub.limits  # opt-in rate limits (fake_hf_limits.py); None: none
        if limits is not None:
            refusal = limits.admit(method, split.path, auth, self.client_address[0])
            if refusal is not None:
                return self._json(method, split.path, 429, refusal.body, refusal.headers)
        status, payload, headers = self._route(method, split.path)
        if limits is not None:
            limits.answered(method, split.path, status)
        self._json(method, split.path, status, payload, headers)

    def _inject(self, fault: Fault, method: str, path: str) -> bool:
        """Act out a fault; True if the request is finished (False: process it normally)."""
        if fault.kind in ("timeout", "slow"):
            time.sleep(fault.delay_s)
            if fault.kind == "slow":
                return False
        if fault.kind in ("timeout", "reset"):
            self._record(method, path, 0)
            self.close_connection = True
            return True
        if fault.kind == "malformed":
            self._send(method, path, 200, b'{"commitOid": "abc", trailing garbage', {})
            return True
        status = int(fault.kind)
        headers = {"Retry-After": "0"} if status == 429 else {}
        self._json(method, path, status, {"error": f"injected {status}"}, headers)
        return True

    def _record(self, method: str, path: str, status: int) -> None:
        with self.hub.lock:
            self.hub.log.append((method, path, status))

    def _json(self, method: str, path: str, status: int, payload, headers: dict) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self._send(method, path, status, body, {"Content-Type": "application/json", **headers})

    def _send(self, method: str, path: str, status: int, body: bytes, headers: dict) -> None:
        self._record(method, path, status)
        try:
            self.send_response(status)
            headers.setdefault("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a "slow" fault): that is the point

    # -- routes ----------------------------------------------------------------------------------

    def _route(self, method: str, path: str) -> tuple[int, object, dict]:
        hub = self.hub
        if method == "POST" and path == "/api/repos/create":
            return (*hub.create(json.loads(self.body)), {})
        if match := _RESOLVE.match(path):
            kind, repo_id, rev, file = match.groups()
            return self._resolve(method, "dataset" if kind else "model", repo_id, rev, file)
        match = _API.match(path)
        if not match:
            return 404, {"error": f"no route for {method} {path}"}, {}
        types, repo_id, action, rev, rest = match.groups()
        repo = hub.repos.get((types[:-1], repo_id))
        if repo is None:
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        rev = unquote(rev or "main")
        if action == "commit" and method == "POST":
            prefix = "" if types == "models" else f"{types}/"
            return hub.commit(repo, f"{hub.url}/{prefix}{repo_id}", rev, self.body)
        with hub.lock:
            commit = repo.at(rev)
        if commit is None:
            return 404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"}
        if action in (None, "revision") and method == "GET":
            siblings = [{"rfilename": p} for p in sorted(commit.files)]
            info = {"id": repo_id, "sha": commit.oid, "private": repo.private}
            return 200, {**info, "siblings": siblings}, {}
        if action == "preupload" and method == "POST":
            return (
                200,
                {"files": [self._mode(commit, f) for f in json.loads(self.body)["files"]]},
                {},
            )
        if action == "tree" and method == "GET":
            return self._tree(repo, commit, unquote(rest or "").strip("/"))
        if action == "paths-info" and method == "POST":
            form = parse_qs(self.body.decode())
            expand = form.get("expand", ["false"])[0].lower() == "true"
            paths = [p for p in form.get("paths", []) if p in commit.files]
            with hub.lock:
                return 200, [hub.entry(repo, commit, p, expand) for p in paths], {}
        return 404, {"error": f"no route for {method} {path}"}, {}

    def _mode(self, commit: Commit, spec: dict) -> dict:
        old = commit.files.get(spec["path"])
        oid = git_hash(old) if old is not None else None
        return {"path": spec["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": oid}

    def _tree(self, repo: FakeRepo, commit: Commit, folder: str) -> tuple[int, object, dict]:
        prefix = f"{folder}/" if folder else ""
        paths = sorted(p for p in commit.files if p.startswith(prefix))
        if folder and not paths:
            return 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}
        recursive = self.query.get("recursive", ["false"])[0].lower() == "true"
        entries: list[dict] = []
        folders: set[str] = set()
        for path in paths:
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):
                sub = prefix + "/".join(parts[:depth])
                if sub not in folders and (recursive or depth == 1):
                    folders.add(sub)
                    entries.append(
                        {"type": "directory", "path": sub, "oid": git_hash(sub.encode())}
                    )
            if recursive or len(parts) == 1:
                entries.append(self.hub.entry(repo, commit, path, expand=False))
        start = int(self.query.get("cursor", ["0"])[0])
        page = entries[start : start + self.hub.page_size]
        headers = {}
        if start + self.hub.page_size < len(entries):
            base = f"{self.hub.url}{urlsplit(self.path).path}"
            rec = "true" if recursive else "false"
            nxt = f"{base}?recursive={rec}&cursor={start + self.hub.page_size}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return 200, page, headers

    def _resolve(self, method: str, repo_type: str, repo_id: str, rev: str, file: str):
        with self.hub.lock:
            repo = self.hub.repos.get((repo_type, repo_id))
            commit = repo.at(unquote(rev)) if repo else None
        if repo is None:
            return 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}
        if commit is None:
            return 404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"}
        file = unquote(file)
        headers = {"X-Repo-Commit": commit.oid}
        if file not in commit.files:
            return 404, {"error": "Entry not found"}, {**headers, "X-Error-Code": "EntryNotFound"}
        data = commit.files[file]
        headers |= {"ETag": f'"{git_hash(data)}"', "Content-Type": "application/octet-stream"}
        return 200, data, headers
