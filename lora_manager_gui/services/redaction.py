"""Secrets never reach a log line: every LogRecord is checked when it is created.

A filter on a logger does not see records of its child loggers (httpx, httpcore.http11, …), and a
filter on a handler misses handlers added later, so the redaction sits in the record factory,
which every record of every logger passes through.
"""
from __future__ import annotations

import logging
import threading

REDACTED = "***"
_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False
_previous_factory = logging.getLogRecordFactory()


def _redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _factory(*args, **kwargs) -> logging.LogRecord:  # type: ignore[no-untyped-def]
    record = _previous_factory(*args, **kwargs)
    if not _secrets:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string is the logger's problem, not ours
        return record
    cleaned = _redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[1] is not None and any(s in str(record.exc_info[1]) for s in _secrets):
        record.exc_info = None
        record.exc_text = None
        record.msg = f"{record.msg} (exception details withheld: they contained a secret)"
    return record


def register_secret(secret: str | None) -> None:
    """From now on, `secret` is replaced by *** in every log record of the process."""
    global _installed, _previous_factory
    if not secret or len(secret) < 4:
        return
    with _lock:
        _secrets.add(secret)
        if not _installed:
            _previous_factory = logging.getLogRecordFactory()
            logging.setLogRecordFactory(_factory)
            _installed = True


def redact(text: str) -> str:
    return _redact(text) if _secrets else text
