-- Durable time (bot/core/schedule.py). The due scripts build item keys from the store's
-- prefix + id (ARGV), so they assume one Redis, not a cluster. Lane floors: scheduling with
-- a newer generation than the lane's floor raises the floor and removes the lane's older
-- items at once; an older generation is refused.
local floor = tonumber(redis.call('HGET', KEYS[4], ARGV[5]) or '-1')
local gen = tonumber(ARGV[7])
if gen < floor then return 0 end
if gen > floor then
  redis.call('HSET', KEYS[4], ARGV[5], ARGV[7])
  for _, other in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    local ok = ARGV[11] .. 'due:item:' .. other
    local f = redis.call('HMGET', ok, 'lane', 'generation')
    if not f[1] then
      redis.call('SREM', KEYS[3], other)
    elseif f[1] == ARGV[5] and tonumber(f[2]) < gen then
      redis.call('DEL', ok)
      redis.call('ZREM', KEYS[1], other)
      redis.call('SREM', KEYS[3], other)
    end
  end
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'kind', ARGV[2], 'incident', ARGV[3], 'key', ARGV[4],
  'lane', ARGV[5], 'token', ARGV[6], 'generation', ARGV[7], 'due_at', ARGV[8],
  'payload', ARGV[9], 'attempts', '0')
redis.call('ZADD', KEYS[1], ARGV[8], ARGV[1])
local first = redis.call('ZRANGE', KEYS[1], 0, 0)
if first[1] == ARGV[1] then
  -- now the earliest: wake every replica's scheduler for it (ARGV[11] is the prefix)
  redis.call('PUBLISH', ARGV[11] .. 'due:wake', ARGV[8])
end
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[10])
redis.call('EXPIRE', KEYS[4], ARGV[10])
return 1
