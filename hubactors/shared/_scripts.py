"""The Lua scripts of the shared rate limiter: each admission is one atomic script call,
timed by the Redis server's own ``TIME`` (no process clock is trusted), which first applies
the settlements and releases waiting to be sent (else a call of their own sends them).

The limits are sliding windows kept as sorted sets: a request is a member scored by the
server time it was admitted, and its tokens are a field of a hash beside them (``_sum``
holds their total), so no window of ``window`` seconds ever holds more than the limit —
wherever the window starts, and however many processes admit. Members older than the window
are dropped as they are met. Every key expires one window after its last write.
"""

from __future__ import annotations

_APPLY = """
local function apply(first)
  for i = first, #ARGV - 1, 2 do
    local rid, actual = ARGV[i], tonumber(ARGV[i + 1])
    if actual < 0 then
      redis.call('ZREM', KEYS[1], rid)
    end
    local old = redis.call('HGET', KEYS[3], rid)
    if old then
      if actual < 0 then
        redis.call('HDEL', KEYS[3], rid)
        redis.call('ZREM', KEYS[2], rid)
        redis.call('HINCRBY', KEYS[3], '_sum', -tonumber(old))
      else
        redis.call('HSET', KEYS[3], rid, actual)
        redis.call('HINCRBY', KEYS[3], '_sum', actual - tonumber(old))
      end
    end
  end
end
"""
# Settlements: pairs of (reservation id, actual tokens), -1 tokens for a release (the
# request and its tokens leave the windows). A reservation the window already forgot is
# left forgotten.

ADMIT = (
    _APPLY
    + """
apply(6)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local id = ARGV[5]
local cutoff = now - window
local wait = 0
if rpm >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
  local n = redis.call('ZCARD', KEYS[1])
  if n >= rpm then
    -- The request passes once all but rpm - 1 of those in the window have left it.
    local oldest = redis.call('ZRANGE', KEYS[1], n - rpm, n - rpm, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now)
  end
end
local used = 0
if tpm >= 0 then
  -- Expire in batches: unpack() takes a few thousand values at most.
  while true do
    local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', cutoff, 'LIMIT', 0, 500)
    if #gone == 0 then break end
    local amounts = redis.call('HMGET', KEYS[3], unpack(gone))
    local freed = 0
    for _, amount in ipairs(amounts) do freed = freed + (tonumber(amount) or 0) end
    redis.call('HDEL', KEYS[3], unpack(gone))
    redis.call('ZREM', KEYS[2], unpack(gone))
    redis.call('HINCRBY', KEYS[3], '_sum', -freed)
  end
  used = tonumber(redis.call('HGET', KEYS[3], '_sum') or '0')
  -- More than the whole limit passes alone, once the window is empty.
  local need = math.min(tokens, tpm)
  if used > 0 and used + need > tpm then
    -- Walk from the oldest until enough tokens would have left the window.
    local left, start, found = used, 0, false
    while not found do
      local entries = redis.call('ZRANGE', KEYS[2], start, start + 499, 'WITHSCORES')
      if #entries == 0 then break end
      local ids = {}
      for i = 1, #entries, 2 do ids[#ids + 1] = entries[i] end
      local amounts = redis.call('HMGET', KEYS[3], unpack(ids))
      for j, amount in ipairs(amounts) do
        left = left - (tonumber(amount) or 0)
        if left <= 0 or left + need <= tpm then
          wait = math.max(wait, tonumber(entries[2 * j]) + window - now)
          found = true
          break
        end
      end
      start = start + 500
    end
  end
end
if wait > 0 then
  return {0, tostring(wait)}
end
local ttl = math.ceil(window * 1000) + 1000
if rpm >= 0 then
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('PEXPIRE', KEYS[1], ttl)
end
if tpm >= 0 then
  redis.call('ZADD', KEYS[2], now, id)
  redis.call('HSET', KEYS[3], id, tokens)
  redis.call('HINCRBY', KEYS[3], '_sum', tokens)
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return {1, tostring(now)}
"""
)
"""KEYS: requests zset, tokens zset, tokens hash. ARGV: window seconds, rpm (-1: none),
tpm (-1: none), estimated tokens, reservation id, then settlements waiting to be sent
(applied first). Returns ``{1, now}`` when admitted, else ``{0, seconds to wait}``."""

SETTLE = (
    _APPLY
    + """
apply(1)
return 1
"""
)
"""KEYS: requests zset, tokens zset, tokens hash. ARGV: settlements (see ``_APPLY``)."""
