"""Rate limits and load shedding, as stages of the call pipeline.

:class:`RateLimiter` keeps a token bucket per principal (per peer address for calls that need
none): a bucket refills at the role's rate (or the token's own) up to its burst, each call takes
one, and a call that finds it empty fails at once with ResourceExhausted carrying how long to
wait (REST answers 429 with `Retry-After`, gRPC RESOURCE_EXHAUSTED, IPC its error code).

:class:`Admission` bounds the inference calls waiting or running per model: one over the bound
fails at once with Unavailable (503 / UNAVAILABLE) instead of queueing, so that latency under
overload stays bounded and a load balancer can send the call elsewhere.

Both lend shares to direct channels (:mod:`mlos.core.channels`): :meth:`RateLimiter.lease`
takes tokens out of a principal's bucket for a channel to spend, and :meth:`Admission.reserve`
holds in-flight slots of a model for a channel while it is open.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlos.core.operations import Access
from mlos.core.pipeline import Call, Next, Transport
from mlos.errors import ResourceExhausted, Unavailable

__all__ = ["RETRY_AFTER", "Admission", "Bucket", "Rate", "RateLimiter"]

RETRY_AFTER = "retry_after"
"""Error detail: seconds after which the call would be let through (a decimal string)."""


@dataclass(frozen=True, slots=True)
class Rate:
    """A sustained rate in calls per second and the burst allowed above it."""

    per_second: float
    burst: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`100/s`, `100` or `100/s:400` (burst 400; default twice the rate, at least 1)."""
        rate_text, _, burst_text = str(text).partition(":")
        rate_text = rate_text.strip().removesuffix("/s")
        per_second = float(rate_text)
        if not math.isfinite(per_second) or per_second <= 0:
            raise ValueError(f"{text!r}: the rate must be a positive number of calls per second")
        burst = int(burst_text) if burst_text.strip() else max(1, math.ceil(per_second * 2))
        if burst < 1:
            raise ValueError(f"{text!r}: the burst must be at least 1")
        return cls(per_second, burst)

    def __str__(self) -> str:
        return f"{self.per_second:g}/s:{self.burst}"


class Bucket:
    """One token bucket."""

    __slots__ = ("level", "rate", "updated")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate = rate
        self.level = float(rate.burst)
        self.updated = now

    def take(self, now: float) -> float:
        """Take one call's token: 0.0 when there was one, else the seconds until there is."""
        rate = self.rate
        level = min(float(rate.burst), self.level + (now - self.updated) * rate.per_second)
        self.updated = now
        if level >= 1.0:
            self.level = level - 1.0
            return 0.0
        self.level = level
        return (1.0 - level) / rate.per_second


class RateLimiter:
    """The pipeline stage that applies rate limits (after authentication, which names the
    principal)."""

    def __init__(
        self,
        by_role: Mapping[int, Rate],
        anonymous: Rate,
        override: Callable[[str], str] | None = None,
        max_buckets: int = 100_000,
        unauthenticated_role: int | None = None,
    ) -> None:
        self.by_role = dict(by_role)
        self.anonymous = anonymous
        self.override = override
        """The principal's own rate ("50/s:100"; "" for none), if principals may have one."""
        self._parsed: dict[str, Rate] = {}
        self.unauthenticated_role = unauthenticated_role
        """The role whose rate applies, per peer, to calls that establish no principal although
        they are not open ones: every caller is admin on a server without authentication."""
        self._buckets: dict[str, Bucket] = {}
        self._max_buckets = max_buckets

    def rate_of(self, call: Call) -> tuple[str, Rate]:
        """The bucket `call` takes its token from and the rate that refills it."""
        return self._rate(call)

    def _bucket(self, key: str, rate: Rate, now: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate:
            if len(self._buckets) >= self._max_buckets:
                self._buckets.clear()  # forget idle callers rather than grow without bound
            bucket = self._buckets[key] = Bucket(rate, now)
        return bucket

    def lease(self, key: str, rate: Rate, want: int) -> int:
        """Take up to `want` whole tokens out of the bucket `key` now (for a direct channel
        to spend); how many were taken."""
        now = time.monotonic()
        bucket = self._bucket(key, rate, now)
        level = min(float(rate.burst), bucket.level + (now - bucket.updated) * rate.per_second)
        taken = max(0, min(want, int(level)))
        bucket.level, bucket.updated = level - taken, now
        return taken

    def give_back(self, key: str, rate: Rate, tokens: int) -> None:
        """Return tokens a channel leased and did not spend (never above the burst)."""
        bucket = self._buckets.get(key)
        if bucket is not None and bucket.rate == rate and tokens > 0:
            bucket.level = min(float(rate.burst), bucket.level + tokens)

    def _rate(self, call: Call) -> tuple[str, Rate]:
        principal = call.caller.principal
        if principal is None:
            host = call.caller.peer.rsplit(":", 1)[0] if call.caller.peer else "local"
            role = self.unauthenticated_role
            if role is not None and call.operation.access is not Access.OPEN:
                return f"peer:{host}:{role}", self.by_role[role]
            return f"peer:{host}", self.anonymous
        own = self.override(principal) if self.override is not None else ""
        rate = None
        if own:
            rate = self._parsed.get(own)
            if rate is None:
                rate = self._parsed[own] = Rate.parse(own)
        if rate is None:
            role = call.caller.role
            rate = self.by_role.get(role, self.anonymous) if role is not None else self.anonymous
        return principal, rate

    async def __call__(self, call: Call, request: Any, proceed: Next) -> Any:
        """Take a token from the caller's bucket, or fail the call with how long to wait."""
        if call.caller.transport is Transport.INTERNAL:
            return await proceed(call, request)
        key, rate = self._rate(call)
        now = time.monotonic()
        wait = self._bucket(key, rate, now).take(now)
        if wait:
            raise ResourceExhausted(
                f"rate limit of {rate} exceeded for {key}; retry in {wait:.3f} s",
                details={RETRY_AFTER: f"{wait:.3f}"},
            )
        return await proceed(call, request)


class Admission:
    """The pipeline stage that bounds the inference calls in flight per model."""

    def __init__(self, max_in_flight: int) -> None:
        self.max_in_flight = max_in_flight
        self._in_flight: dict[str, int] = {}

    def in_flight(self, model: str) -> int:
        """Inference calls for `model` admitted and not yet answered."""
        return self._in_flight.get(model, 0)

    def reserve(self, model: str, want: int, *, admitted: bool = True) -> int:
        """Hold up to `want` slots of `model` for a direct channel (until :meth:`release`);
        how many were held. `admitted`: the caller runs inside an admitted call of the model,
        whose own slot it may count as free (it ends with the call)."""
        count = self._in_flight.get(model, 0)
        room = self.max_in_flight - count + (1 if admitted and count else 0)
        held = max(0, min(want, room))
        if held:
            self._in_flight[model] = count + held
        return held

    def release(self, model: str, slots: int) -> None:
        """Give back slots :meth:`reserve` held."""
        left = self._in_flight.get(model, 0) - slots
        if left > 0:
            self._in_flight[model] = left
        else:
            self._in_flight.pop(model, None)

    async def __call__(self, call: Call, request: Any, proceed: Next) -> Any:
        """Admit an inference call while its model has room; shed it at once otherwise."""
        if call.operation.access is not Access.INFER or call.operation.name != "infer":
            return await proceed(call, request)
        model = call.model
        count = self._in_flight.get(model, 0)
        if count >= self.max_in_flight:
            raise Unavailable(
                f"model {model!r} has {count} requests in flight, its limit; retry later",
                details={RETRY_AFTER: "0.1"},
            )
        self._in_flight[model] = count + 1
        try:
            return await proceed(call, request)
        finally:
            left = self._in_flight[model] - 1
            if left:
                self._in_flight[model] = left
            else:
                del self._in_flight[model]
