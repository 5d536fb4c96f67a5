-- A group shows in the unmatched digest (KEYS[1] the board, KEYS[2] its members): a firing
-- group (ARGV[3] = 1) joins this window's digest, opening a new window when the last one is
-- over (the old message stays as it was); a member that changed makes the digest due
-- (KEYS[3], the rest lane). Returns the window's start, or "" (not a member).
local board, members, rest = KEYS[1], KEYS[2], KEYS[3]
local gid, now, join, window, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1',
  tonumber(ARGV[4]), tonumber(ARGV[5])
local start = tonumber(redis.call('HGET', board, 'start') or '-1')
local member = redis.call('ZSCORE', members, gid)
if start < 0 or now - start >= window then
  if not join then return '' end
  redis.call('DEL', board, members)
  redis.call('HSET', board, 'start', ARGV[2])
  start, member = now, nil
end
if not member then
  if not join then return '' end
  redis.call('ZADD', members, ARGV[2], gid)
end
redis.call('HINCRBY', board, 'version', 1)
redis.call('HSET', board, 'lane', 'rest')
redis.call('EXPIRE', board, ttl)
redis.call('EXPIRE', members, ttl)
if not redis.call('ZSCORE', rest, '~digest') then redis.call('ZADD', rest, ARGV[2], '~digest') end
return redis.call('HGET', board, 'start')
