-- A message goes on the timeline once, however often it is pinned or 📌-reacted, credited
-- to the earliest pin or 📌 by Slack's event time (ARGV[2], integer µs: exact as a Lua
-- number), whatever order the events are handled in: a later-handled earlier one takes
-- the credit over and its entry replaces the first in place. 1: added, 2: credit moved,
-- 0: nothing changed. A message captured before credits were kept keeps its entry.
local ts, at, by, entry = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('SADD', KEYS[1], ts) == 1 then
  redis.call('HSET', KEYS[2], ts, cjson.encode({at = at, by = by, entry = entry}))
  redis.call('RPUSH', KEYS[3], entry)
  return 1
end
local held = redis.call('HGET', KEYS[2], ts)
if not held then return 0 end
local credit = cjson.decode(held)
if tonumber(credit.at) <= tonumber(at) then return 0 end
if credit.by == by then
  credit.at = at
  redis.call('HSET', KEYS[2], ts, cjson.encode(credit))
  return 0
end
local i = redis.call('LPOS', KEYS[3], credit.entry)
if not i then return 0 end
redis.call('LSET', KEYS[3], i, entry)
redis.call('HSET', KEYS[2], ts, cjson.encode({at = at, by = by, entry = entry}))
return 2
