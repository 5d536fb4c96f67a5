-- Append a batch to the alert stream, unless the stream holds `max_bytes` unapplied (-1)
-- or the `once` key (optional: a Slack event id) was used (0); 1 when appended. The
-- stream's unapplied size is counted beside it, reset whenever the stream is empty.
local function accept(stream, bytes, once, batch, max_bytes, ttl)
  local size = string.len(batch)
  if redis.call('XLEN', stream) == 0 then redis.call('SET', bytes, 0) end
  if tonumber(redis.call('GET', bytes) or '0') + size > max_bytes then return -1 end
  if once and not redis.call('SET', once, '1', 'NX', 'EX', ttl) then return 0 end
  redis.call('XADD', stream, '*', 'b', batch)
  redis.call('INCRBY', bytes, size)
  return 1
end
