-- One change of an incident (incidents.py `update`), written only if the incident is still
-- the revision the change was made from (compare-and-set: no WATCH, no MULTI).
-- KEYS: incident, its timeline, the event stream, the open set, the channel index entry to
-- write (the incident's channel, when it changed), the one to drop (the channel it left).
-- ARGV: 1 the revision read, 2 the incident's new JSON, 3 the lifecycle event's JSON ('' =
-- none), 4 the open set: '+' add, '-' remove, '' leave, 5 its score, 6 the incident id,
-- 7 '1' to write KEYS[5], 8 '1' to drop KEYS[6], 9.. timeline entries.
-- Returns {'ok'}, {'missing'}, or {'conflict', the incident as stored now}.
local raw = redis.call('GET', KEYS[1])
if not raw then return {'missing'} end
local rev = cjson.decode(raw)['rev']
if type(rev) ~= 'string' then rev = '' end
if rev ~= ARGV[1] then return {'conflict', raw} end
redis.call('SET', KEYS[1], ARGV[2])
if #ARGV > 8 then redis.call('RPUSH', KEYS[2], unpack(ARGV, 9)) end
if ARGV[3] ~= '' then redis.call('XADD', KEYS[3], '*', 'e', ARGV[3]) end
if ARGV[4] == '+' then
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6])
elseif ARGV[4] == '-' then
  redis.call('ZREM', KEYS[4], ARGV[6])
end
if ARGV[7] == '1' then redis.call('SET', KEYS[5], ARGV[6]) end
if ARGV[8] == '1' then redis.call('DEL', KEYS[6]) end
return {'ok'}
