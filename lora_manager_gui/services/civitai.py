"""The CivitAI HTTP client: one shared httpx.AsyncClient, polite and suspicious.

- Explicit timeouts; an honest User-Agent; one RateLimiter (rate + concurrency + queue-wide pause)
  shared by every caller.
- 429: retried at most `max_429_retries` times, waiting Retry-After (seconds or HTTP date, capped) or
  an exponential backoff with jitter, pausing the whole queue; then CivitaiRateLimitedError (the
  item is deferred, not failed).
- 5xx/524, timeouts and dropped connections: retried a little, then a classified error; a host
  that cannot be connected to on every try is CivitaiUnreachableError (the caller is offline).
- Every exchange has an overall `deadline` (the httpx timeouts are per read, so a trickled body
  would pass them) and a cap on the decoded body (`max_body_bytes`, counted while decoding).
- A body is trusted only when its Content-Type says JSON and it parses, even on a 200, and then
  only through the one parser of core/civitai_records.py: endpoints return typed records.
- The API key: lookups are Public endpoints and never need it (CIVITAI_API.md §5), and a token
  bypasses the shared edge cache, so by-hash lookups go out anonymous. The key is sent, as
  `Authorization: Bearer`, only on the Mixed endpoints (/models, /model-versions/{id}), where it
  applies the account's browsing level, and only to the configured API host, never to image CDNs.
  It is never put in a URL, never logged (services/redaction.py) and never stored.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from lora_manager_gui import __version__
from lora_manager_gui.core.civitai_errors import (
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
    CivitaiTooLargeError,
    CivitaiUnreachableError,
)
from lora_manager_gui.core.civitai_records import (
    CivitaiModel,
    CivitaiVersion,
    parse_model,
    parse_model_page,
    parse_version,
    parse_version_batch,
    pick_oldest,
    valid_id,
)
from lora_manager_gui.core.hashing import normalise_sha256
from lora_manager_gui.services.civitai_body import (
    SUPPORTED_ENCODINGS,
    Answer,
    BodyReader,
    decode_json,
    short_text,
    snippet,
    title_of,
)
from lora_manager_gui.services.ratelimit import RateLimiter, Sleep, backoff_delay, parse_retry_after
from lora_manager_gui.services.redaction import register_secret

log = logging.getLogger(__name__)

# Bodies larger than this are decoded on a worker thread: the client's coroutines run on the event
# loop, which in the app is the GUI thread, and a 100-version batch answer takes 10-50 ms to parse.
PARSE_OFF_LOOP_BYTES = 64 * 1024

USER_AGENT = f"LoRA-Manager/{__version__} (+https://github.com/lora-manager; library identification by hash)"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # per connect / read / write
DEFAULT_DEADLINE = 60.0  # seconds for a whole exchange: connect, send, every byte of the answer
DEFAULT_DOWNLOAD_DEADLINE = 300.0
DEFAULT_MAX_BODY_BYTES = 128 * 1024 * 1024  # decoded; a 100-version batch is a few megabytes
BATCH_HASHES = 100  # POST /model-versions/by-hash accepts at most 100 SHA-256
BATCH_MODELS = 100  # /models?ids= gives at most 100 items per page
MAX_MODEL_PAGES = 5


@dataclass(frozen=True, slots=True)
class HashBatchAnswer:
    """The answer of one batch lookup: SHA-256 -> version for the hits; `rejected` maps the hashes
    an untrusted item claimed to why; `unplaced` are the reasons of untrusted items that named no
    hash we asked about (their misses cannot be called "not found")."""

    found: dict[str, CivitaiVersion] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    unplaced: tuple[str, ...] = ()


class CivitaiClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        download_deadline: float = DEFAULT_DOWNLOAD_DEADLINE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
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
        self.deadline = deadline
        self.download_deadline = download_deadline
        self.max_body_bytes = max_body_bytes
        self.max_429_retries = max_429_retries
        self.max_transient_retries = max_transient_retries
        self.retry_after_cap = retry_after_cap
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.requests_made = 0
        self.rate_limited_responses = 0
        self.answers_received = 0  # exchanges that got an HTTP answer (any status)
        self.unreachable_in_a_row = 0  # connection attempts that failed since the last answer
        self._http = httpx.AsyncClient(
            base_url=self.base_url + "/",
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max_concurrency + 2, max_keepalive_connections=max_concurrency),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": SUPPORTED_ENCODINGS},
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

    # -- one exchange, bounded in time and size -----------------------------------------------

    def _headers(self, url: str, authenticated: bool) -> dict[str, str]:
        if not (authenticated and self._api_key):
            return {}
        host = urlsplit(url).netloc
        if host and host != self._api_host:
            return {}  # never hand the key to another host
        return {"Authorization": f"Bearer {self._api_key}"}

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self.backoff_base, cap=self.backoff_cap)

    async def _exchange(self, method: str, url: str, path: str, *, params: dict[str, Any] | None, body: Any,
                        headers: dict[str, str]) -> Answer:
        """Send one request and read its whole answer within `deadline` seconds and `max_body_bytes`."""
        request = self._http.build_request(method, url, params=params, json=body, headers=headers)
        try:
            async with asyncio.timeout(self.deadline):
                response = await self._http.send(request, stream=True)
                try:
                    self.answers_received += 1
                    self.unreachable_in_a_row = 0
                    declared = response.headers.get("content-length", "")
                    reader = BodyReader(response.headers.get("content-encoding", ""), self.max_body_bytes, path)
                    if declared.isdigit() and not reader.encoded and int(declared) > self.max_body_bytes:
                        raise CivitaiTooLargeError(
                            f"CivitAI announced {int(declared):,} bytes, over the {self.max_body_bytes:,}-byte limit", url=path)
                    async for chunk in response.aiter_raw():
                        reader.feed(chunk)
                    content = reader.finish()
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            raise CivitaiTimeoutError(f"CivitAI did not answer completely within {self.deadline:g} s", url=path) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            self.unreachable_in_a_row += 1
            raise CivitaiUnreachableError(f"CivitAI could not be reached: {exc or type(exc).__name__}", url=path) from exc
        except httpx.TimeoutException as exc:
            raise CivitaiTimeoutError(f"CivitAI did not answer in time ({type(exc).__name__})", url=path) from exc
        except httpx.TransportError as exc:
            raise CivitaiNetworkError(f"the connection to CivitAI failed: {exc or type(exc).__name__}", url=path) from exc
        return Answer(response.status_code, response.headers, content)

    async def request_json(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None,
        authenticated: bool = False, parse: Any = None,
    ) -> Any:
        """The parsed JSON answer of one call (passed through `parse`, which may raise a
        CivitaiError, on a worker thread for big bodies), or a classified CivitaiError."""
        url = path.lstrip("/")
        headers = self._headers(url, authenticated)
        limited = transient = 0
        while True:
            error: CivitaiError | None = None
            answer: Answer | None = None
            async with self.limiter.slot():
                self.requests_made += 1
                try:
                    answer = await self._exchange(method, url, path, params=params, body=body, headers=headers)
                except (CivitaiTimeoutError, CivitaiNetworkError) as exc:
                    error = exc
            if answer is not None:
                status = answer.status
                if status == 429:
                    self.rate_limited_responses += 1
                    wait = parse_retry_after(answer.headers.get("retry-after"))
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
                    error = CivitaiServerError(f"CivitAI answered HTTP {status}{snippet(answer)}", status=status, url=path)
                    wait = parse_retry_after(answer.headers.get("retry-after"))
                    if wait is not None and transient < self.max_transient_retries and wait <= self.retry_after_cap:
                        transient += 1
                        await self._sleep(wait)
                        continue
                else:
                    if len(answer.content) > PARSE_OFF_LOOP_BYTES:  # a batch answer: megabytes of JSON
                        return await asyncio.to_thread(self._parse, answer, path, parse)
                    return self._parse(answer, path, parse)
            assert error is not None
            if transient >= self.max_transient_retries:
                raise error
            delay = self._backoff(transient)
            transient += 1
            log.info("%s on %s; retrying in %.1f s", error.error_class, path, delay)
            await self._sleep(delay)

    def _parse(self, answer: Answer, path: str, parse: Any = None) -> Any:
        status = answer.status
        ctype = answer.ctype
        content = answer.content
        looks_html = "html" in ctype or content.lstrip()[:1] == b"<"
        if looks_html:
            raise CivitaiHtmlResponseError(
                f"CivitAI sent an HTML page (HTTP {status}) where JSON was expected: {title_of(answer.text)}",
                status=status, url=path,
            )
        try:
            data = decode_json(content) if content.strip() else None
        except ValueError as exc:
            raise CivitaiMalformedResponseError(
                f"CivitAI sent malformed JSON (HTTP {status}, {len(content)} bytes): {exc}", status=status, url=path
            ) from exc
        if "json" not in ctype and status < 400:
            raise CivitaiMalformedResponseError(f"CivitAI answered with Content-Type {ctype or 'none'!r}", status=status, url=path)
        if status == 404:
            message = data.get("error") if isinstance(data, dict) else None
            raise CivitaiNotFoundError(short_text(message) or "not found on CivitAI", status=404, url=path)
        if status == 451:
            raise CivitaiRegionBlockedError("CivitAI is not available in this region (HTTP 451)", status=451, url=path)
        if status >= 400:
            message = (data.get("error") or data.get("message")) if isinstance(data, dict) else None
            raise CivitaiRequestError(f"CivitAI refused the request (HTTP {status}): {short_text(message)}", status=status, url=path)
        if status != 200 or data is None:
            raise CivitaiMalformedResponseError(f"CivitAI answered HTTP {status} without a JSON body", status=status, url=path)
        if parse is None:
            return data
        try:
            return parse(data)
        except CivitaiError as exc:
            exc.url = exc.url or path
            exc.status = exc.status or status
            raise

    # -- endpoints -----------------------------------------------------------------------------

    async def version_by_hash(self, file_hash: str) -> CivitaiVersion:
        """GET /model-versions/by-hash/{hash}: SHA-256, AutoV2 or AutoV3. 404 -> CivitaiNotFoundError;
        an answer that is not a trustworthy model version -> CivitaiMalformedAnswerError."""
        return await self.request_json("GET", f"model-versions/by-hash/{file_hash.strip().upper()}", parse=parse_version)

    async def versions_by_hashes(self, sha256s: Sequence[str]) -> HashBatchAnswer:
        """POST /model-versions/by-hash (<= 100 SHA-256). The hits by SHA-256 (misses are absent:
        CivitAI drops them silently), and what could not be trusted. Raises CivitaiError for the
        whole batch."""
        wanted = {normalise_sha256(s) for s in sha256s} - {None}
        if len(wanted) > BATCH_HASHES:
            raise ValueError(f"at most {BATCH_HASHES} SHA-256 per batch lookup, got {len(wanted)}")
        if not wanted:
            return HashBatchAnswer()
        batch = await self.request_json("POST", "model-versions/by-hash", body=sorted(wanted),  # type: ignore[arg-type]
                                        parse=parse_version_batch)
        matches: dict[str, list[CivitaiVersion]] = {}
        for version in batch.versions:
            for sha in version.sha256s:
                if sha in wanted:
                    matches.setdefault(sha, []).append(version)
        found = {sha: pick_oldest(versions) for sha, versions in matches.items()}
        rejected: dict[str, str] = {}
        unplaced: list[str] = []
        for item in batch.rejected:
            claimed = [sha for sha in item.sha256s if sha in wanted]
            for sha in claimed:
                if sha not in found:
                    rejected.setdefault(sha, item.reason)
            if not claimed:
                unplaced.append(item.reason)
        if batch.rejected:
            log.warning("CivitAI sent %d untrusted item(s) in a batch of %d: %s", len(batch.rejected), len(wanted),
                        batch.rejected[0].reason)
        return HashBatchAnswer(found, rejected, tuple(unplaced))

    async def models_by_ids(self, model_ids: Sequence[int]) -> dict[int, CivitaiModel]:
        """GET /models?ids=… (<= 100 ids, nsfw=true so mature models are not filtered out).
        Untrusted items are left out (the caller counts them as not fetched)."""
        ids = sorted({int(i) for i in model_ids if valid_id(i)})
        if len(ids) > BATCH_MODELS:
            raise ValueError(f"at most {BATCH_MODELS} model ids per call, got {len(ids)}")
        found: dict[int, CivitaiModel] = {}
        if not ids:
            return found
        params: dict[str, Any] = {"ids": ",".join(map(str, ids)), "limit": BATCH_MODELS, "nsfw": "true"}
        for _ in range(MAX_MODEL_PAGES):
            page = await self.request_json("GET", "models", params=params, authenticated=True, parse=parse_model_page)
            if page.rejected:
                log.warning("CivitAI sent %d untrusted model item(s): %s", len(page.rejected), page.rejected[0])
            found.update({m.id: m for m in page.items if m.id in ids})
            if not page.next_cursor or len(found) >= len(ids):
                break
            params = {**params, "cursor": page.next_cursor}
        return found

    async def model(self, model_id: int) -> CivitaiModel:
        return await self.request_json("GET", f"models/{int(model_id)}", authenticated=True, parse=parse_model)

    async def model_version(self, version_id: int) -> CivitaiVersion:
        return await self.request_json("GET", f"model-versions/{int(version_id)}", authenticated=True,
                                       parse=parse_version)

    # -- model file downloads (services/download_transfer.py follows the redirects itself) ----------

    @property
    def api_origin(self) -> str:
        """scheme://host[:port] of the API: where /api/download/models/{id} lives."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def download_auth(self, url: str) -> dict[str, str]:
        """The Authorization header for one hop of a model download: the key goes only to the API
        host, over the API's own scheme (never to a storage host a redirect points at, never
        downgraded from https to http)."""
        parts, api = urlsplit(url), urlsplit(self.base_url)
        if not self._api_key or parts.netloc != api.netloc or parts.scheme != api.scheme:
            return {}
        return {"Authorization": f"Bearer {self._api_key}"}

    def stream_get(self, url: str, headers: dict[str, str]) -> Any:
        """`async with client.stream_get(url, headers) as response`: one GET, redirects not followed,
        the body not read (the caller streams it)."""
        self.requests_made += 1
        return self._http.stream("GET", url, headers={**headers, "Accept": "*/*", "Accept-Encoding": "identity"})

    async def download(self, url: str, dest: Path, *, max_bytes: int) -> Path:
        """Stream `url` (an image) to `dest` through a temporary file, refusing more than max_bytes
        and more than `download_deadline` seconds."""
        tmp = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        async with self.limiter.slot():
            self.requests_made += 1
            try:
                async with asyncio.timeout(self.download_deadline):
                    await self._download(url, tmp, max_bytes)
            except TimeoutError as exc:
                tmp.unlink(missing_ok=True)
                raise CivitaiTimeoutError(f"downloading {url} took longer than {self.download_deadline:g} s", url=url) from exc
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

    async def _download(self, url: str, tmp: Path, max_bytes: int) -> None:
        async with self._http.stream("GET", url, headers=self._headers(url, False)) as response:
            if response.status_code != 200:
                raise CivitaiServerError(f"downloading {url} failed: HTTP {response.status_code}",
                                         status=response.status_code, url=url)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise CivitaiRequestError(f"{url}: {declared} bytes is over the {max_bytes}-byte limit", url=url)
            reader = BodyReader(response.headers.get("content-encoding", ""), max_bytes, url)
            with open(tmp, "wb") as fh:
                async for chunk in response.aiter_raw():
                    reader.feed(chunk)
                    fh.write(reader.data)
                    reader.data.clear()
                    reader.max_bytes = max_bytes - fh.tell()
                fh.write(reader.finish())
