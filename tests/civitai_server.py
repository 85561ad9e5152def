"""A fake CivitAI on 127.0.0.1 for tests and benchmarks: real HTTP, real sockets, in-memory catalogue.

Speaks GET /model-versions/by-hash/{hash}, POST /model-versions/by-hash, GET /models/{id},
GET /models?ids=…, GET /model-versions/{id} and GET /images/{name}, with answers shaped like
tests/fixtures/civitai/. Faults are injected per path and/or hash:

    server.add_fault("by-hash", "429_html", retry_after="30", times=2)
    server.add_fault("/models", "500")

Kinds: 429_json, 429_html (Cloudflare 1015 page), 500, 503, 524, timeout (sleeps past the client's
timeout), html_200 (maintenance page with status 200), truncated_json (a 200 whose JSON stops
half-way), dropped (Content-Length promises more than is sent), null_items (batch with null items),
trickle (a 200 whose body comes one byte every `delay` seconds), gzip_bomb (a small gzip body that
inflates to `size` bytes, 2 GB by default), extra_items (`payload`, JSON text of more items, is
added to a batch answer), body (`payload` is sent as the whole 200 JSON answer).
Every request is logged with its headers and body (`server.requests`).

Downloads (`add_download`): GET /api/download/models/{versionId} answers 401/403 for a gated file
without the right key (`api_key`), else redirects to a storage server on another address
(127.0.0.2 where it can be bound, else another port), which serves the bytes with Range, ETag and
Last-Modified. Switches: `ignore_range` (always 200 with the whole file), `redirect_status`.
Storage faults (path "/files/"): drop_at (`fraction` of the file, then the connection closes),
html_200, json_200 (an error page as a 200), wrong_type (a 200 with Content-Type text/plain).
`StoredFile.chunk_delay` slows a transfer down (seconds per 64 KiB).
"""
from __future__ import annotations

import copy
import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "civitai"
CLOUDFLARE_HTML = (FIXTURES / "rate_limited_cloudflare.txt").read_text(encoding="utf-8").split("\n\n", 1)[1]
MAINTENANCE_HTML = "<!DOCTYPE html><html><head><title>Civitai | Maintenance</title></head><body>We're adjusting a few things, be back in a few minutes...</body></html>"
PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc0000003010100c9fe92ef0000000049454e44ae426082"
)


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class Fault:
    path: str  # substring of the request path ("" = every path)
    kind: str
    hash: str | None = None  # only when this hash is in the URL or the POST body
    times: int | None = 1  # None = forever
    retry_after: str | None = None
    delay: float = 0.0
    payload: str | None = None  # extra_items / body: JSON text
    size: int = 2 * 1024**3  # gzip_bomb: the inflated size
    sent: int = 0  # trickle: body bytes written so far
    fraction: float = 0.5  # drop_at: where in the file the connection drops


def gzip_bomb(size: int) -> bytes:
    """A gzip stream of `size` zero bytes (about size / 1000 bytes long), built without `size` of memory.

    The trailer (CRC, length) is left out: a client that reads it all has already failed."""
    block = 1024 * 1024
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    head = z.compress(b"\0" * block) + z.flush(zlib.Z_FULL_FLUSH)
    repeat = z.compress(b"\0" * block) + z.flush(zlib.Z_FULL_FLUSH)
    return head + repeat * (max(size // block, 1) - 1)


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)
    server: str = "api"  # or "storage"

    def header(self, name: str) -> str | None:
        """A request header by name, in any case (None when it was not sent)."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class Catalogue:
    """Versions by id, models by id, and every hash of every file -> version id."""

    def __init__(self) -> None:
        self.versions: dict[int, dict[str, Any]] = {}
        self.models: dict[int, dict[str, Any]] = {}
        self.by_hash: dict[str, int] = {}
        self.sha256s: set[str] = set()  # the hashes that are SHA256 of a file (the batch matches only those)
        self.lock = threading.Lock()

    @classmethod
    def from_fixtures(cls) -> Catalogue:
        cat = cls()
        cat.add_version(fixture_json("by_hash_lora.json"), fixture_json("model.json"))
        return cat

    def add_version(self, version: dict[str, Any], model: dict[str, Any] | None = None) -> None:
        with self.lock:
            self.versions[version["id"]] = version
            for f in version.get("files") or []:
                for kind, value in (f.get("hashes") or {}).items():
                    self.by_hash[str(value).upper()] = version["id"]
                    if kind == "SHA256":
                        self.sha256s.add(str(value).upper())
            if model is not None:
                self.models[model["id"]] = model

    def add_synthetic(
        self, sha256: str, *, version_id: int, model_id: int, autov3: str | None = None, name: str | None = None,
        nsfw_level: int = 1, image_url: str | None = None,
    ) -> dict[str, Any]:
        """A version shaped like the fixture for a file with this SHA-256 (and its model)."""
        version = copy.deepcopy(fixture_json("by_hash_lora.json"))
        version.update(id=version_id, modelId=model_id, name=f"v{version_id}")
        version["model"]["name"] = name or f"Model {model_id}"
        f = version["files"][0]
        f["hashes"] = {"SHA256": sha256.upper(), "AutoV2": sha256.upper()[:10]}
        if autov3:
            f["hashes"]["AutoV3"] = autov3.upper()
        for img in version["images"]:
            img["nsfwLevel"] = nsfw_level
            if image_url:
                img["url"] = image_url
        model = self.models.get(model_id) or copy.deepcopy(fixture_json("model.json"))
        model.update(id=model_id, name=name or f"Model {model_id}")
        model["creator"] = {"username": f"creator{model_id}", "image": None}
        model["modelVersions"] = [v for v in model.get("modelVersions", []) if v.get("id") != version_id][:0] + [
            {"id": version_id, "name": f"v{version_id}", "files": version["files"]}
        ]
        self.add_version(version, model)
        return version


@dataclass
class StoredFile:
    """A downloadable file of one version (`gated`: None, "login" or "early_access")."""

    version_id: int
    name: str
    content: bytes
    gated: str | None = None
    etag: str = ""
    last_modified: str = "Wed, 01 Oct 2025 10:00:00 GMT"
    content_type: str = "application/octet-stream"
    chunk_delay: float = 0.0

    def __post_init__(self) -> None:
        import hashlib

        self.etag = self.etag or '"' + hashlib.sha256(self.content).hexdigest()[:16] + '"'


def _storage_address() -> str:
    import socket

    try:  # the whole of 127/8 is loopback on Linux: another address is another host
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
        return "127.0.0.2"
    except OSError:
        return "127.0.0.1"


class FakeCivitai:
    def __init__(self, catalogue: Catalogue | None = None, *, latency: float = 0.0) -> None:
        self.catalogue = catalogue or Catalogue.from_fixtures()
        self.latency = latency
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self.images: dict[str, bytes] = {"preview.png": PNG_1x1}
        self._bombs: dict[int, bytes] = {}
        handler = type("Handler", (_Handler,), {"fake": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fake-civitai", daemon=True)
        self.files: dict[int, StoredFile] = {}
        self.api_key: str | None = None  # the key that opens gated files
        self.ignore_range = False
        self.active_transfers = 0
        self.max_active_transfers = 0  # the most storage bodies sent at once
        self.redirect_status = 307
        self.redirect_location: str | None = None  # where the download endpoint redirects instead of the storage host
        storage = type("StorageHandler", (_StorageHandler,), {"fake": self})
        self.storage = ThreadingHTTPServer((_storage_address(), 0), storage)
        self.storage.daemon_threads = True
        self.storage.block_on_close = False
        self._storage_thread = threading.Thread(target=self.storage.serve_forever, name="fake-storage", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/api/v1"

    @property
    def origin(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def storage_origin(self) -> str:
        host, port = self.storage.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeCivitai:
        self._thread.start()
        self._storage_thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.storage.shutdown()
        self.storage.server_close()

    def add_download(self, version_id: int, content: bytes, *, name: str | None = None, **kw: Any) -> StoredFile:
        """Make version `version_id` downloadable with these bytes (its primary file's name unless given)."""
        version = self.catalogue.versions.get(version_id)
        if name is None and version:
            name = next((f["name"] for f in version.get("files") or [] if f.get("primary")), None)
        stored = StoredFile(version_id, name or f"file{version_id}.safetensors", content, **kw)
        with self._lock:
            self.files[version_id] = stored
        return stored

    def __enter__(self) -> FakeCivitai:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def bomb(self, size: int) -> bytes:
        with self._lock:
            if size not in self._bombs:
                self._bombs[size] = gzip_bomb(size)
            return self._bombs[size]

    def add_fault(self, path: str, kind: str, **kw: Any) -> Fault:
        fault = Fault(path, kind, **kw)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def requests_to(self, fragment: str) -> list[LoggedRequest]:
        return [r for r in self.requests if fragment in r.path]

    def _take_fault(self, path: str, raw_body: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.path not in path:
                    continue
                if fault.hash and fault.hash.upper() not in path.upper() and fault.hash.upper() not in raw_body.upper():
                    continue
                if fault.times is not None:
                    if fault.times <= 0:
                        continue
                    fault.times -= 1
                return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeCivitai
    protocol_version = "HTTP/1.1"
    server_version = "FakeCivitai/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None, *, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if length is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json; charset=utf-8", headers)

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        raw = b""
        if method == "POST":
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        fake = self.fake
        with fake._lock:
            fake.requests.append(LoggedRequest(method, split.path, parse_qs(split.query), dict(self.headers.items()), body))
        if fake.latency:
            time.sleep(fake.latency)
        fault = fake._take_fault(split.path, raw.decode("utf-8", "replace"))
        if fault is not None and self._fault(fault):
            return
        self._route(method, split.path, parse_qs(split.query), body)

    def _fault(self, fault: Fault) -> bool:
        extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        kind = fault.kind
        if kind == "429_json":
            self._json(429, {"error": "You've requested too many pages, please use cursors instead"}, extra)
        elif kind == "429_html":
            self._send(429, CLOUDFLARE_HTML.encode(), "text/html; charset=UTF-8", extra)
        elif kind in ("500", "503"):
            self._json(int(kind), {"message": "An unexpected error occurred", "error": "boom"}, extra)
        elif kind == "524":
            self._send(524, b"<html><head><title>A timeout occurred</title></head></html>", "text/html", extra)
        elif kind == "timeout":
            time.sleep(fault.delay or 5.0)
            return False
        elif kind == "html_200":
            self._send(200, MAINTENANCE_HTML.encode(), "text/html; charset=utf-8")
        elif kind == "truncated_json":
            text = json.dumps([fixture_json("by_hash_lora.json")]).encode()
            self._send(200, text[: len(text) // 2], "application/json")
        elif kind == "dropped":
            self._send(200, b'{"id": 1, "na', "application/json", length=5000)
        elif kind == "trickle":
            body = b'{"id": 1, "name": "slow", "files": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    fault.sent += 1
                    time.sleep(fault.delay or 1.5)
            except OSError:
                pass
            self.close_connection = True
        elif kind == "gzip_bomb":
            body = self.fake.bomb(fault.size)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass
            self.close_connection = True
        elif kind == "body":
            self._send(200, (fault.payload or "").encode("utf-8", "surrogatepass"), "application/json")
        else:
            return False  # e.g. null_items: handled by the route
        return True

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> None:
        cat = self.fake.catalogue
        prefix = "/api/v1/"
        if path.startswith("/api/download/models/"):
            self._download(path.rsplit("/", 1)[-1], query)
            return
        if path.startswith("/images/"):
            data = self.fake.images.get(path.rsplit("/", 1)[-1])
            if data is None:
                self._send(404, b"no such image", "text/plain")
            else:
                self._send(200, data, "image/png" if data.startswith(b"\x89PNG") else "image/jpeg")
            return
        if not path.startswith(prefix):
            self._json(404, {"error": "Not found"})
            return
        route = path[len(prefix):].strip("/")
        if route == "model-versions/by-hash" and method == "POST":
            if not isinstance(body, list) or len(body) > 100 or not all(isinstance(h, str) and len(h) == 64 for h in body):
                self._json(400, {"error": "Request must include an array of SHA256 Hashes. …"})
                return
            items: list[Any] = []
            for h in body:
                vid = cat.by_hash.get(h.upper())
                if vid is not None and h.upper() in cat.sha256s:
                    items.append(cat.versions[vid])
            if any(f.kind == "null_items" for f in self.fake.faults):
                items.insert(0, None)
            texts = [json.dumps(item) for item in items[::-1]]  # not in request order
            texts += [f.payload for f in self.fake.faults if f.kind == "extra_items" and f.payload]
            self._send(200, ("[" + ",".join(texts) + "]").encode("utf-8", "surrogatepass"),
                       "application/json; charset=utf-8")
            return
        if route.startswith("model-versions/by-hash/") and method == "GET":
            vid = cat.by_hash.get(route.rsplit("/", 1)[-1].upper())
            if vid is None:
                self._json(404, {"error": "Model not found"})
            else:
                self._json(200, cat.versions[vid])
            return
        if route.startswith("model-versions/") and method == "GET":
            tail = route.rsplit("/", 1)[-1]
            version = cat.versions.get(int(tail)) if tail.isdigit() else None
            if version is None:
                self._json(404, {"error": "Model not found"})
            else:
                self._json(200, version)
            return
        if route == "models" and method == "GET":
            ids = [int(x) for x in (query.get("ids", [""])[0]).split(",") if x.strip().isdigit()]
            limit = int(query.get("limit", ["100"])[0])
            items = [cat.models[i] for i in ids if i in cat.models][:limit]
            self._json(200, {"items": items, "metadata": {"nextCursor": None}})
            return
        if route.startswith("models/") and method == "GET":
            tail = route.rsplit("/", 1)[-1]
            model = cat.models.get(int(tail)) if tail.isdigit() else None
            if model is None:
                self._json(404, {"error": f"No model with id {tail}"})
            else:
                self._json(200, model)
            return
        self._json(405, {"error": "Method not allowed"})

    def _download(self, tail: str, query: dict[str, list[str]]) -> None:
        fake = self.fake
        stored = fake.files.get(int(tail)) if tail.isdigit() else None
        if stored is None:
            self._json(404, {"error": "Model not found"})
            return
        auth = self.headers.get("Authorization", "")
        authorised = fake.api_key is not None and auth == f"Bearer {fake.api_key}"
        if stored.gated == "login" and not authorised:
            self._json(401, {"error": "Unauthorized", "message": "Log in to download this file"})
            return
        if stored.gated == "early_access" and not authorised:
            self._json(403, {"error": "This model is in early access", "message": "Early access: support the creator to download"})
            return
        from urllib.parse import quote

        location = fake.redirect_location or (
            f"{fake.storage_origin}/files/{stored.version_id}/{quote(stored.name, safe='')}?X-Amz-Signature=abc")
        self.send_response(fake.redirect_status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _StorageHandler(_Handler):
    """The storage host the download endpoint redirects to: bytes with Range, ETag, Last-Modified."""

    def _handle(self, method: str) -> None:
        split = urlsplit(self.path)
        fake = self.fake
        with fake._lock:
            fake.requests.append(LoggedRequest(method, split.path, parse_qs(split.query), dict(self.headers.items()),
                                               None, server="storage"))
        parts = split.path.strip("/").split("/")
        stored = fake.files.get(int(parts[1])) if len(parts) >= 2 and parts[1].isdigit() else None
        if method != "GET" or stored is None:
            self._send(404, b"<html><title>NoSuchKey</title></html>", "text/html")
            return
        fault = fake._take_fault(split.path, "")
        if fault is not None and fault.kind == "html_200":
            self._send(200, MAINTENANCE_HTML.encode(), "text/html; charset=utf-8")
            return
        if fault is not None and fault.kind == "json_200":
            self._send(200, b'{"error":"Model file not found"}', "application/json")
            return
        content = stored.content
        total = len(content)
        start = 0
        status = 200
        ranged = self.headers.get("Range", "")
        if_range = self.headers.get("If-Range")
        if ranged.startswith("bytes=") and not fake.ignore_range and (
                if_range is None or if_range in (stored.etag, stored.last_modified)):
            first = ranged[6:].split("-", 1)[0]
            if first.isdigit():
                start = int(first)
                if start >= total:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{total}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
        body = content[start:]
        self.send_response(status)
        ctype = "text/plain" if fault is not None and fault.kind == "wrong_type" else stored.content_type
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", stored.etag)
        self.send_header("Last-Modified", stored.last_modified)
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
        stop = len(body)
        if fault is not None and fault.kind == "drop_at":
            stop = max(0, int(total * fault.fraction) - start)
            self.close_connection = True
        self.end_headers()
        with fake._lock:
            fake.active_transfers += 1
            fake.max_active_transfers = max(fake.max_active_transfers, fake.active_transfers)
        try:
            step = 64 * 1024
            for offset in range(0, stop, step):
                self.wfile.write(body[offset:min(offset + step, stop)])
                if stored.chunk_delay:
                    self.wfile.flush()
                    time.sleep(stored.chunk_delay)
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        finally:
            with fake._lock:
                fake.active_transfers -= 1
