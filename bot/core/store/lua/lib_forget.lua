-- A resolved alert leaves its group: a fingerprint, its body and its resolved mark.
local function forget(meta, state, bodies, resolved, fp)
  redis.call('HDEL', state, fp)
  redis.call('HDEL', bodies, fp)
  redis.call('ZREM', resolved, fp)
  redis.call('HINCRBY', meta, 'resolved', -1)
end
local function prune(meta, state, bodies, resolved, before)
  local old = redis.call('ZRANGEBYSCORE', resolved, '-inf', before, 'LIMIT', 0, 1000)
  for _, fp in ipairs(old) do forget(meta, state, bodies, resolved, fp) end
  return #old
end
