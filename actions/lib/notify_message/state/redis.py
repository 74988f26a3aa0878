"""The shared state store for st2 deployments on several hosts: a Redis server (often the
one st2 already uses for coordination).

Each operation is one Lua script, so it runs atomically on the server and reads the server's
clock (``TIME``): action runners on hosts whose clocks differ still agree on every window.
redis-py is imported here only, and this module only when ``storm_control.state.backend``
is ``redis``.  Connection and socket timeouts bound every call; any Redis error becomes
``StoreUnavailable`` naming the server (never its password).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis

from .store import Claim, Leased, QueuedItem, StoreUnavailable, Window

__all__ = ["RedisStore"]

T = TypeVar("T")

# every script starts from the server's clock, in seconds with microseconds; Redis before 5
# replicates a script that reads TIME and then writes only as its effects, when asked to
_NOW = ("if redis.replicate_commands then redis.replicate_commands() end\n"
        "local t = redis.call('TIME'); local now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n")

_TAKE = _NOW + """
local longest = 0
for i = 1, #ARGV, 2 do longest = math.max(longest, tonumber(ARGV[i + 1])) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
local wait = 0
for i = 1, #ARGV, 2 do
  local limit, seconds = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local since = '(' .. string.format('%.6f', now - seconds)
  local count = redis.call('ZCOUNT', KEYS[1], since, '+inf')
  if count >= limit then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES',
                              'LIMIT', count - limit, 1)
    wait = math.max(wait, tonumber(oldest[2]) + seconds - now)
  end
end
if wait == 0 then
  redis.call('ZADD', KEYS[1], now, string.format('%.6f', now) .. ':' .. redis.call('INCR', KEYS[2]))
  redis.call('PEXPIRE', KEYS[1], math.ceil(longest * 1000) + 1000)
end
return string.format('%.6f', wait)
"""

_CLAIM = _NOW + """
local held = redis.call('GET', KEYS[1])
if held then return {0, held} end
local value = string.format('%.6f', now) .. '|' .. ARGV[1]
redis.call('SET', KEYS[1], value, 'PX', math.max(1, math.ceil(tonumber(ARGV[2]) * 1000)))
return {1, value}
"""

_RELEASE = """
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, string.find(held, '|', 1, true) + 1) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: zset of ids by availability, hash of data, hash of push times, hash of leases,
# the set of queues, the id counter; ARGV: queue name, data, not_before
_PUSH = _NOW + """
local id = tostring(redis.call('INCR', KEYS[6]))
redis.call('HSET', KEYS[2], id, ARGV[2])
redis.call('HSET', KEYS[3], id, string.format('%.6f', now))
redis.call('ZADD', KEYS[1], math.max(now, tonumber(ARGV[3])), id)
redis.call('SADD', KEYS[5], ARGV[1])
return id
"""

_LEASE = _NOW + """
local ends = now + tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {string.format('%.6f', ends)}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ends, id)
  redis.call('HSET', KEYS[4], id, ARGV[2])
  table.insert(out, id)
  table.insert(out, redis.call('HGET', KEYS[2], id))
  table.insert(out, redis.call('HGET', KEYS[3], id))
end
return out
"""

_ACK = """
local done = 0
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[4], ARGV[i]) == ARGV[1] then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
    redis.call('HDEL', KEYS[3], ARGV[i])
    redis.call('HDEL', KEYS[4], ARGV[i])
    done = done + 1
  end
end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[5], ARGV[2]) end
return done
"""

_UNLEASE = _NOW + """
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[4], ARGV[i]) == ARGV[1] then
    redis.call('ZADD', KEYS[1], now, ARGV[i])
    redis.call('HDEL', KEYS[4], ARGV[i])
  end
end
return 0
"""

_SET_UNTIL = _NOW + """
local ms = math.ceil((tonumber(ARGV[1]) - now) * 1000)
if ms > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', ms) else redis.call('DEL', KEYS[1]) end
return 0
"""

_GET_UNTIL = _NOW + """
local ends = redis.call('GET', KEYS[1])
if ends and tonumber(ends) > now then return ends end
return '0'
"""

_LEDGER_PUT = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(tonumber(ARGV[3]) * 1000)))
return 0
"""

# KEYS: zset of silence ids by end, hash of their data
_SILENCES = _NOW + """
local ended = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(ended) do redis.call('HDEL', KEYS[2], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  table.insert(out, id)
  table.insert(out, redis.call('HGET', KEYS[2], id))
end
return out
"""

_SILENCE_EXPIRE = _NOW + """
local ends = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not ends or tonumber(ends) <= now then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""


class RedisStore:
    backend = "redis"

    def __init__(self, url: str, *, password: str = "", ca_bundle: str = "",
                 timeout: float = 2.0, prefix: str = "notify_message:") -> None:
        parts = urlsplit(url)
        self.where = f"redis {parts.hostname}:{parts.port or 6379}{parts.path or ''}"
        self.timeout = timeout
        self.prefix = prefix
        options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout,
                                   "decode_responses": True, "retry_on_timeout": False}
        if password:
            options["password"] = password
        if parts.scheme == "rediss" and ca_bundle:
            options["ssl_ca_certs"] = ca_bundle
        try:
            self._redis = redis.Redis.from_url(url, **options)
        except (ValueError, redis.RedisError) as exc:
            raise StoreUnavailable(f"the state store {self.where} could not be configured "
                                   f"({type(exc).__name__})") from None
        scripts = {"take": _TAKE, "claim": _CLAIM, "release": _RELEASE, "push": _PUSH,
                   "lease": _LEASE, "ack": _ACK, "unlease": _UNLEASE, "set_until": _SET_UNTIL,
                   "get_until": _GET_UNTIL, "ledger_put": _LEDGER_PUT,
                   "silences": _SILENCES, "silence_expire": _SILENCE_EXPIRE}
        self._scripts = {name: self._redis.register_script(code)
                         for name, code in scripts.items()}

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _call(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except (redis.RedisError, OSError) as exc:
            # redis-py's messages can quote the URL: only the exception's type is shown
            raise StoreUnavailable(f"the state store {self.where} could not be reached or "
                                   f"answered in time ({type(exc).__name__})") from None

    def _script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return self._call(lambda: self._scripts[name](keys=list(keys), args=list(args)))

    def _queue_keys(self, queue: str) -> list[str]:
        return [self._key("q", queue), self._key("q", queue, "data"),
                self._key("q", queue, "pushed"), self._key("q", queue, "lease"),
                self._key("queues"), self._key("q-seq")]

    def now(self) -> float:
        seconds, micros = self._call(self._redis.time)
        return float(seconds) + float(micros) / 1e6

    def take(self, key: str, windows: Sequence[Window]) -> float:
        args: list[Any] = []
        for window in windows:
            args += [window.limit, repr(float(window.seconds))]
        return float(self._script("take", [self._key("take", key), self._key("take-seq")], args))

    def claim(self, key: str, owner: str, ttl: float) -> Claim:
        won, value = self._script("claim", [self._key("claim", key)], [owner, repr(float(ttl))])
        at, _, holder = str(value).partition("|")
        return Claim(bool(won), holder, float(at))

    def release(self, key: str, owner: str) -> None:
        self._script("release", [self._key("claim", key)], [owner])

    def push(self, queue: str, data: str, *, not_before: float = 0.0) -> str:
        return str(self._script("push", self._queue_keys(queue),
                                [queue, data, repr(float(not_before))]))

    def pending(self, queue: str) -> int:
        return int(self._call(lambda: self._redis.zcard(self._key("q", queue))))

    def queues(self) -> list[str]:
        names = self._call(lambda: self._redis.smembers(self._key("queues")))
        return sorted(str(name) for name in names)

    def lease(self, queue: str, seconds: float, limit: int) -> Leased:
        import uuid

        token = uuid.uuid4().hex
        out = self._script("lease", self._queue_keys(queue), [repr(float(seconds)), token, limit])
        items = tuple(QueuedItem(str(out[i]), str(out[i + 1]), float(out[i + 2]))
                      for i in range(1, len(out), 3))
        return Leased(queue, token, float(out[0]), items)

    def ack(self, leased: Leased) -> int:
        return int(self._script("ack", self._queue_keys(leased.queue),
                                [leased.token, leased.queue] + [i.id for i in leased.items]))

    def unlease(self, leased: Leased) -> None:
        self._script("unlease", self._queue_keys(leased.queue),
                     [leased.token] + [i.id for i in leased.items])

    def set_until(self, key: str, until: float) -> None:
        self._script("set_until", [self._key("until", key)], [repr(float(until))])

    def get_until(self, key: str) -> float:
        return float(self._script("get_until", [self._key("until", key)], []))

    def ledger_get(self, key: str) -> dict[str, str]:
        found = self._call(lambda: self._redis.hgetall(self._key("ledger", key)))
        return {str(target): str(entry) for target, entry in found.items()}

    def ledger_put(self, key: str, target: str, entry: str, ttl: float) -> None:
        self._script("ledger_put", [self._key("ledger", key)], [target, entry, repr(float(ttl))])

    def silence_put(self, silence_id: str, data: str, until: float) -> None:
        def work() -> None:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._key("silences", "data"), silence_id, data)
                pipe.zadd(self._key("silences"), {silence_id: until})
                pipe.execute()
        self._call(work)

    def silences(self) -> list[tuple[str, str]]:
        out = self._script("silences", [self._key("silences"), self._key("silences", "data")], [])
        return sorted((str(out[i]), str(out[i + 1])) for i in range(0, len(out), 2))

    def silence_expire(self, silence_id: str) -> bool:
        return bool(self._script("silence_expire", [self._key("silences"),
                                                    self._key("silences", "data")], [silence_id]))

    def close(self) -> None:
        self._call(self._redis.close)
