-- Cancel an incident's items (of a kind, lane, key: '' = any); a generation (ARGV[5])
-- raises the floor of every lane touched.
local n = 0
local lanes = {}
if ARGV[3] ~= '' then lanes[ARGV[3]] = true end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local ik = ARGV[1] .. 'due:item:' .. id
  local f = redis.call('HMGET', ik, 'kind', 'lane', 'key')
  if not f[1] then
    redis.call('SREM', KEYS[2], id)
  elseif (ARGV[2] == '' or f[1] == ARGV[2]) and (ARGV[3] == '' or f[2] == ARGV[3])
      and (ARGV[6] == '1' or f[3] == ARGV[4]) then
    redis.call('DEL', ik)
    redis.call('ZREM', KEYS[1], id)
    redis.call('SREM', KEYS[2], id)
    lanes[f[2]] = true
    n = n + 1
  end
end
if ARGV[5] ~= '' then
  for lane, _ in pairs(lanes) do
    local floor = tonumber(redis.call('HGET', KEYS[3], lane) or '-1')
    if tonumber(ARGV[5]) > floor then redis.call('HSET', KEYS[3], lane, ARGV[5]) end
  end
end
return n
