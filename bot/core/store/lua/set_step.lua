-- Compare-and-set of one step: the step's state, the run's version and the incident's
-- timeline change together or not at all. Per field, so clicks on different steps of one
-- checklist never conflict (a WATCH on the hash would make them retry each other).
-- A run that is no longer stored (KEYS[4], Redis lost it) gets nothing written: -2.
if redis.call('EXISTS', KEYS[4]) == 0 then return -2 end
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('RPUSH', KEYS[3], ARGV[4])
return redis.call('INCR', KEYS[2])
