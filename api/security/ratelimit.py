"""A token bucket per API key (or client address) in Redis, shared by every API process.

Each identity gets ``burst`` tokens, refilled at ``rate`` per second; a request takes one.
The bucket is a small hash updated by one Lua script with Redis' own clock, so every API
process, on any host, agrees on it. Idle buckets expire.
"""

from __future__ import annotations

import math

from api.security.errors import RateLimited
from tsdb.connection import Client
from tsdb.faults import translate
from tsdb.keys import rate_limit_key

__all__ = ["RateLimiter"]

# KEYS[1] the bucket; ARGV: rate per second, burst. Returns {allowed, ms to wait}.
_TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, wait}
"""


class RateLimiter:
    """``rate`` requests per second with bursts of ``burst``, per identity."""

    def __init__(self, client: Client, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst or math.ceil(2 * rate))
        self._take = client.register_script(_TAKE)

    async def take(self, identity: str, rate: float | None = None) -> None:
        """Spend one token of ``identity``; :class:`RateLimited` when there is none.

        ``rate`` replaces the limiter's own (a key's rate limit), with a burst of twice it.
        """
        burst = self.burst if rate is None else max(1, math.ceil(2 * rate))
        rate = self.rate if rate is None else rate
        with translate():
            allowed, wait_ms = await self._take(keys=[rate_limit_key(identity)], args=[rate, burst])
        if not int(allowed):
            raise RateLimited(max(1, math.ceil(int(wait_ms) / 1000)), rate)
