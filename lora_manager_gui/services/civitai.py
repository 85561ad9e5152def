"""The CivitAI HTTP client: one shared httpx.AsyncClient, polite and suspicious.

- Explicit timeouts; an honest User-Agent; one RateLimiter (rate + concurrency + queue-wide pause)
  shared by every caller.
- 429: retried at most `max_429_retries` times, waiting Retry-After (seconds or HTTP date, capped) or
  an exponential backoff with jitter, pausing the whole queue; then CivitaiRateLimitedError (the
  item is deferred, not failed).
- 5xx/524, timeouts and dropped connections: retried a little, then a classified error. A body is
  trusted only when its Content-Type says JSON and it parses, even on a 200.
- The API key: lookups are Public endpoints and never need it (CIVITAI_API.md §5), and a token
  bypasses the shared edge cache, so by-hash lookups go out anonymous. The key is sent, as
  `Authorization: Bearer`, only on the Mixed endpoints (/models, /model-versions/{id}), where it
  applies the account's browsing level, and only to the configured API host, never to image CDNs.
  It is never put in a URL, never logged (services/redaction.py) and never stored.
"""
from __future__ import annotations

import asyncio

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from lora_manager_gui import __version__
from lora_manager_gui.core.civitai import (
    CivitaiError,
    CivitaiHtmlResponseError,
    CivitaiMalformedResponseError,
    CivitaiNetworkError,
    CivitaiNotFoundError,
    CivitaiRateLimitedError,
    CivitaiRegionBlockedError,
    CivitaiRequestError,
    CivitaiServerError,
    CivitaiTimeoutError,
    file_sha256s,
    parse_model_page,
    parse_version_list,
    pick_oldest,
)
from lora_manager_gui.core.hashing import normalise_sha256
from lora_manager_gui.services.ratelimit import RateLimiter, Sleep, backoff_delay, parse_retry_after
from lora_manager_gui.services.redaction import register_secret

log = logging.getLogger(__name__)

# Bodies larger than this are decoded on a worker thread: the client's coroutines run on the event
# loop, which in the app is the GUI thread, and a 100-version batch answer takes 10-50 ms to parse.
PARSE_OFF_LOOP_BYTES = 64 * 1024


def _loads(text: str) -> Any:
    """orjson when it accepts the text, else the standard library (which also explains errors)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)

USER_AGENT = f"LoRA-Manager/{__version__} (+https://github.com/lora-manager; library identification by hash)"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
BATCH_HASHES = 100  # POST /model-versions/by-hash accepts at most 100 SHA-256
BATCH_MODELS = 100  # /models?ids= gives at most 100 items per page
MAX_MODEL_PAGES = 5


class CivitaiClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        max_concurrency: int = 3,
        rate: float = 2.0,
        burst: int = 4,
        max_429_retries: int = 2,
        max_transient_retries: int = 2,
        retry_after_cap: float = 120.0,
        backoff_base: float = 1.5,
        backoff_cap: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: RateLimiter | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or None
        register_secret(self._api_key)
        self._api_host = urlsplit(self.base_url).netloc
        self.limiter = limiter or RateLimiter(rate, burst=burst, max_concurrency=max_concurrency)
        self._sleep = sleep or self.limiter._sleep
        self.max_429_retries = max_429_retries
        self.max_transient_retries = max_transient_retries
        self.retry_after_cap = retry_after_cap
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.requests_made = 0
        self.rate_limited_responses = 0
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max_concurrency + 2, max_keepalive_connections=max_concurrency),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    def __repr__(self) -> str:  # never shows the key
        return f"CivitaiClient({self.base_url!r}, api_key={'set' if self._api_key else 'none'})"

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> CivitaiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- one request, with the retry policy ---------------------------------------------------

    def _headers(self, url: str, authenticated: bool) -> dict[str, str]:
        if not (authenticated and self._api_key):
            return {}
        host = urlsplit(url).netloc
        if host and host != self._api_host:
            return {}  # never hand the key to another host
        return {"Authorization": f"Bearer {self._api_key}"}

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_cap)

    async def request_json(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
        authenticated: bool = False,
    ) -> Any:
        """The parsed JSON answer of one call, or a classified CivitaiError."""
        url = path.lstrip("/")
        headers = self._headers(url, authenticated)
        limited = transient = 0
        while True:
            error: CivitaiError | None = None
            response: httpx.Response | None = None
            async with self.limiter.slot():
                self.requests_made += 1
                try:
                    response = await self._http.request(method, url, params=params, json=body, headers=headers)
                except httpx.TimeoutException as exc:
                    error = CivitaiTimeoutError(f"CivitAI did not answer in time ({type(exc).__name__})", url=path)
                except httpx.TransportError as exc:
                    error = CivitaiNetworkError(f"the connection to CivitAI failed: {exc}", url=path)
            if response is not None:
                status = response.status_code
                if status == 429:
                    self.rate_limited_responses += 1
                    wait = parse_retry_after(response.headers.get("retry-after"))
                    if limited >= self.max_429_retries or (wait is not None and wait > self.retry_after_cap):
                        raise CivitaiRateLimitedError(
                            f"CivitAI is rate limiting us (HTTP 429 {limited + 1} times); try again later",
                            retry_after=wait, status=429, url=path,
                        )
                    delay = wait if wait is not None else self._backoff(limited)
                    log.info("CivitAI answered 429 on %s; pausing every request for %.1f s", path, delay)
                    self.limiter.pause(delay)
                    limited += 1
                    continue
                if status >= 500:
                    error = CivitaiServerError(f"CivitAI answered HTTP {status}{_snippet(response)}", status=status, url=path)
                    wait = parse_retry_after(response.headers.get("retry-after"))
                    if wait is not None and transient < self.max_transient_retries and wait <= self.retry_after_cap:
                        transient += 1
                        await self._sleep(wait)
                        continue
                else:
                    if len(response.content) > PARSE_OFF_LOOP_BYTES:  # a batch answer: megabytes of JSON
                        return await asyncio.to_thread(self._parse, response, path)
                    return self._parse(response, path)
            assert error is not None
            if transient >= self.max_transient_retries:
                raise error
            delay = self._backoff(transient)
            transient += 1
            log.info("%s on %s; retrying in %.1f s", error.error_class, path, delay)
            await self._sleep(delay)

    def _parse(self, response: httpx.Response, path: str) -> Any:
        status = response.status_code
        ctype = response.headers.get("content-type", "").lower()
        text = response.text
        looks_html = "html" in ctype or text.lstrip()[:1] == "<"
        if looks_html:
            raise CivitaiHtmlResponseError(
                f"CivitAI sent an HTML page (HTTP {status}) where JSON was expected: {_title(text)}",
                status=status, url=path,
            )
        try:
            data = _loads(text) if text.strip() else None
        except ValueError as exc:
            raise CivitaiMalformedResponseError(
                f"CivitAI sent malformed JSON (HTTP {status}, {len(text)} characters): {exc}", status=status, url=path
            ) from exc
        if "json" not in ctype and status < 400:
            raise CivitaiMalformedResponseError(f"CivitAI answered with Content-Type {ctype or 'none'!r}", status=status, url=path)
        if status == 404:
            message = data.get("error") if isinstance(data, dict) else None
            raise CivitaiNotFoundError(str(message or "not found on CivitAI"), status=404, url=path)
        if status == 451:
            raise CivitaiRegionBlockedError("CivitAI is not available in this region (HTTP 451)", status=451, url=path)
        if status >= 400:
            message = data.get("error") or data.get("message") if isinstance(data, dict) else None
            raise CivitaiRequestError(f"CivitAI refused the request (HTTP {status}): {message}", status=status, url=path)
        if status != 200 or data is None:
            raise CivitaiMalformedResponseError(f"CivitAI answered HTTP {status} without a JSON body", status=status, url=path)
        return data

    # -- endpoints -----------------------------------------------------------------------------

    async def version_by_hash(self, file_hash: str) -> dict[str, Any]:
        """GET /model-versions/by-hash/{hash}: SHA-256, AutoV2 or AutoV3. 404 -> CivitaiNotFoundError."""
        data = await self.request_json("GET", f"model-versions/by-hash/{file_hash.strip().upper()}")
        if not isinstance(data, dict) or not isinstance(data.get("id"), int):
            raise CivitaiMalformedResponseError("the by-hash answer is not a model-version object", url=file_hash)
        return parse_version_list([data])[0]

    async def versions_by_hashes(self, sha256s: Sequence[str]) -> dict[str, dict[str, Any]]:
        """POST /model-versions/by-hash (<= 100 SHA-256). Returns SHA-256 -> version for the hits only;
        misses are absent (CivitAI drops them silently). Raises CivitaiError for the whole batch."""
        wanted = {normalise_sha256(s) for s in sha256s} - {None}
        if len(wanted) > BATCH_HASHES:
            raise ValueError(f"at most {BATCH_HASHES} SHA-256 per batch lookup, got {len(wanted)}")
        if not wanted:
            return {}
        data = await self.request_json("POST", "model-versions/by-hash", body=sorted(wanted))  # type: ignore[arg-type]
        matches: dict[str, list[dict[str, Any]]] = {}
        for version in parse_version_list(data):
            for sha in set(file_sha256s(version)):
                if sha in wanted:
                    matches.setdefault(sha, []).append(version)
        return {sha: pick_oldest(found) for sha, found in matches.items()}

    async def models_by_ids(self, model_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """GET /models?ids=… (<= 100 ids, nsfw=true so mature models are not filtered out)."""
        ids = sorted({int(i) for i in model_ids})
        if len(ids) > BATCH_MODELS:
            raise ValueError(f"at most {BATCH_MODELS} model ids per call, got {len(ids)}")
        found: dict[int, dict[str, Any]] = {}
        if not ids:
            return found
        params: dict[str, Any] = {"ids": ",".join(map(str, ids)), "limit": BATCH_MODELS, "nsfw": "true"}
        for _ in range(MAX_MODEL_PAGES):
            items, cursor = parse_model_page(await self.request_json("GET", "models", params=params, authenticated=True))
            found.update({int(m["id"]): m for m in items if int(m["id"]) in ids})
            if not cursor or len(found) >= len(ids):
                break
            params = {**params, "cursor": cursor}
        return found

    async def model(self, model_id: int) -> dict[str, Any]:
        data = await self.request_json("GET", f"models/{int(model_id)}", authenticated=True)
        if not isinstance(data, dict) or not isinstance(data.get("id"), int):
            raise CivitaiMalformedResponseError(f"the answer for model {model_id} is not a model object")
        return data

    async def model_version(self, version_id: int) -> dict[str, Any]:
        data = await self.request_json("GET", f"model-versions/{int(version_id)}", authenticated=True)
        if not isinstance(data, dict) or not isinstance(data.get("id"), int):
            raise CivitaiMalformedResponseError(f"the answer for version {version_id} is not a model-version object")
        return parse_version_list([data])[0]

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> Path:
        """Stream `url` (an image) to `dest` through a temporary file, refusing more than max_bytes."""
        tmp = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        async with self.limiter.slot():
            self.requests_made += 1
            try:
                async with self._http.stream("GET", url, headers=self._headers(url, False)) as response:
                    if response.status_code != 200:
                        raise CivitaiServerError(f"downloading {url} failed: HTTP {response.status_code}",
                                                 status=response.status_code, url=url)
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise CivitaiRequestError(f"{url}: {declared} bytes is over the {max_bytes}-byte limit", url=url)
                    written = 0
                    with open(tmp, "wb") as fh:
                        async for chunk in response.aiter_bytes():
                            written += len(chunk)
                            if written > max_bytes:
                                raise CivitaiRequestError(f"{url}: more than {max_bytes} bytes", url=url)
                            fh.write(chunk)
            except httpx.TimeoutException as exc:
                tmp.unlink(missing_ok=True)
                raise CivitaiTimeoutError(f"downloading {url} timed out", url=url) from exc
            except httpx.TransportError as exc:
                tmp.unlink(missing_ok=True)
                raise CivitaiNetworkError(f"downloading {url} failed: {exc}", url=url) from exc
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        os.replace(tmp, dest)
        return dest


def _title(text: str) -> str:
    lower = text.lower()
    start = lower.find("<title>")
    if start >= 0:
        end = lower.find("</title>", start)
        if end > start:
            return text[start + 7 : end].strip()[:120]
    return text.strip()[:80].replace("\n", " ")


def _snippet(response: httpx.Response) -> str:
    ctype = response.headers.get("content-type", "").lower()
    if "html" in ctype:
        return f" ({_title(response.text)})"
    text = response.text.strip()
    return f" ({text[:120]})" if text else ""
