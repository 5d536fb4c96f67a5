-- The reconciler is done with a version of the group: drop it from its lane's due set (or
-- keep it due at ARGV[3]) only if nothing changed meanwhile; otherwise it is due now.
local lanes = {page = KEYS[2], rule = KEYS[3], rest = KEYS[4]}
local due = lanes[redis.call('HGET', KEYS[1], 'lane') or 'rule'] or KEYS[3]
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then
  redis.call('ZADD', due, ARGV[4], ARGV[1])
  return 0
end
if ARGV[3] == '' then redis.call('ZREM', due, ARGV[1])
else redis.call('ZADD', due, ARGV[3], ARGV[1]) end
return 1
