-- The day's next incident number, only while the store still holds its install record:
-- a store that lost its data must not hand out numbers an earlier incident had.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return n
