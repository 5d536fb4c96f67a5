-- A new incident (incidents.py `create`), unless one of its id exists: the incident, the
-- all and open sets, its first timeline entries and its `declared` event, together.
-- KEYS: incident, all set, open set, timeline, event stream. ARGV: 1 the incident's JSON,
-- 2 its id, 3 its score (declared_at), 4 '1' when it is open, 5 the event's JSON,
-- 6.. the timeline entries. Returns 1, or 0 when the id was taken (nothing written).
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
if ARGV[4] == '1' then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2]) end
redis.call('RPUSH', KEYS[4], unpack(ARGV, 6))
redis.call('XADD', KEYS[5], '*', 'e', ARGV[5])
return 1
