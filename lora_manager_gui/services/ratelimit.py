"""Politeness towards one host: a token bucket, a concurrency bound and a queue-wide pause.

One RateLimiter is shared by every caller of a CivitaiClient. A 429 pauses the whole queue (not
only the request that got it) until Retry-After has passed (CIVITAI_API.md §8.4).
"""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date. None if absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def backoff_delay(
    attempt: int, *, base: float = 1.5, factor: float = 2.0, cap: float = 30.0, jitter: float = 0.2,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with ±jitter: about base, base*2, base*4 … capped."""
    delay = min(cap, base * factor**attempt)
    spread = (rng or random).uniform(-jitter, jitter)
    return max(0.0, delay * (1.0 + spread))


class RateLimiter:
    """At most `max_concurrency` requests in flight and `rate` request starts per second (burst allowed)."""

    def __init__(
        self,
        rate: float = 2.0,
        *,
        burst: int = 4,
        max_concurrency: int = 3,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or max_concurrency < 1 or burst < 1:
            raise ValueError("rate, burst and max_concurrency must be positive")
        self.rate = rate
        self.burst = burst
        self.max_concurrency = max_concurrency
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._paused_until = 0.0
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._lock = asyncio.Lock()
        self.pauses: list[float] = []  # every pause asked for, in seconds (reported and tested)
        self.waited = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request that has not started yet for `seconds` from now."""
        self.pauses.append(seconds)
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    async def _take_token(self) -> None:
        async with self._lock:
            while True:
                remaining = self._paused_until - self._clock()
                if remaining > 0:
                    self.waited += remaining
                    await self._sleep(remaining)
                    continue
                now = self._clock()
                self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                wait = (1.0 - self._tokens) / self.rate
                self.waited += wait
                await self._sleep(wait)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._semaphore:
            await self._take_token()
            yield
