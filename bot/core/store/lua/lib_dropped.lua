-- Count groups the caps kept out, in this window's notice board (KEYS[1]), and make the
-- notice due (KEYS[2], the rest lane) unless it already is. ARGV: now, window, ttl.
local function dropped(notice, rest, reason, n, now, window, ttl)
  local start = tonumber(redis.call('HGET', notice, 'start') or '-1')
  if start < 0 or now - start >= window then
    redis.call('DEL', notice)
    redis.call('HSET', notice, 'start', tostring(now))
  end
  redis.call('HINCRBY', notice, 'n:' .. reason, n)
  redis.call('HINCRBY', notice, 'version', 1)
  redis.call('HSET', notice, 'lane', 'rest')
  redis.call('EXPIRE', notice, ttl)
  if not redis.call('ZSCORE', rest, '~notice') then
    redis.call('ZADD', rest, tostring(now), '~notice')
  end
end
