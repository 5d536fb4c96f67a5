-- The day's next incident number, only while the store still holds its install record:
-- a store that lost its data must not hand out numbers an earlier incident had. The
-- record is looked for only when the day's counter is new (its first incident, or the
-- store lost its data): a store that lost the record lost the counters with it.
local n = redis.call('INCR', KEYS[2])
if n == 1 then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('DEL', KEYS[2])
    return -1
  end
  redis.call('EXPIRE', KEYS[2], ARGV[1])
end
return n
