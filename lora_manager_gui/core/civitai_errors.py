"""The classified failures of a CivitAI request; `error_class` is stored and reported per item."""
from __future__ import annotations

from typing import Any

from lora_manager_gui.core.errors import LoraManagerError
from lora_manager_gui.core.tasks import ProblemKind


class CivitaiError(LoraManagerError):
    """A CivitAI request failed; `error_class` is the stable name stored and reported for the item."""

    error_class = "civitai_error"
    transient = True  # worth trying again in a later run

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url

    @property
    def kind(self) -> ProblemKind:
        return ProblemKind.parse(self.error_class)


class CivitaiNotFoundError(CivitaiError):
    error_class = "not_found"
    transient = False


class CivitaiRateLimitedError(CivitaiError):
    """Still 429 after the allowed retries: the item is deferred, not failed."""

    error_class = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class CivitaiServerError(CivitaiError):
    error_class = "server_error"


class CivitaiTimeoutError(CivitaiError):
    error_class = "timeout"


class CivitaiNetworkError(CivitaiError):
    error_class = "network"


class CivitaiUnreachableError(CivitaiNetworkError):
    """The host could not be resolved or connected to, on every try: the app is offline."""


class CivitaiHtmlResponseError(CivitaiError):
    """An HTML page (Cloudflare challenge, maintenance page) where JSON was expected."""

    error_class = "html_body"


class CivitaiMalformedResponseError(CivitaiError):
    """The body claimed to be JSON but did not parse."""

    error_class = "malformed_json"


class CivitaiMalformedAnswerError(CivitaiMalformedResponseError):
    """The JSON parsed but is not a trustworthy answer (wrong types, absurd ids, unstorable)."""

    error_class = "malformed_answer"


class CivitaiTooLargeError(CivitaiError):
    """The (decoded) body is larger than the client accepts."""

    error_class = "too_large"


class CivitaiRequestError(CivitaiError):
    """A 4xx other than 404/429: retrying will not help."""

    error_class = "http_4xx"
    transient = False


class CivitaiRegionBlockedError(CivitaiRequestError):
    error_class = "region_blocked"
