-- Accept a batch: refused (-1) while the stream holds `max_bytes` unapplied; at most once
-- per key (a Slack event id: 0 when used), the marker and the entry together.
local stream, bytes, once = KEYS[1], KEYS[2], KEYS[3]
local size, max_bytes = string.len(ARGV[1]), tonumber(ARGV[2])
if redis.call('XLEN', stream) == 0 then redis.call('SET', bytes, 0) end
if tonumber(redis.call('GET', bytes) or '0') + size > max_bytes then return -1 end
if once and not redis.call('SET', once, '1', 'NX', 'EX', ARGV[3]) then return 0 end
redis.call('XADD', stream, '*', 'b', ARGV[1])
redis.call('INCRBY', bytes, size)
return 1
