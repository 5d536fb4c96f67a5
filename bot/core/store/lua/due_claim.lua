-- Claim: every due item (up to a limit) gets its score pushed to the lease's end, so it
-- comes due again only if the claimer never acks it. Stale items are dropped here.
-- Returns {stale, next due score or false, item, item, ...}: the claimer sleeps until then.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {0, false}
for _, id in ipairs(ids) do
  local ik = ARGV[4] .. 'due:item:' .. id
  local f = redis.call('HMGET', ik, 'incident', 'lane', 'generation')
  if not f[1] then
    redis.call('ZREM', KEYS[1], id)
  else
    local floor = tonumber(redis.call('HGET', ARGV[4] .. 'due:gen:' .. f[1], f[2]) or '-1')
    if tonumber(f[3]) < floor then
      redis.call('ZREM', KEYS[1], id)
      redis.call('DEL', ik)
      redis.call('SREM', ARGV[4] .. 'due:of:' .. f[1], id)
      out[1] = out[1] + 1
    else
      redis.call('ZADD', KEYS[1], ARGV[2], id)
      redis.call('HINCRBY', ik, 'attempts', 1)
      redis.call('HSETNX', ik, 'first_claimed_at', ARGV[1])
      out[#out + 1] = redis.call('HGETALL', ik)
    end
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then out[2] = first[2] end
return out
