-- Slack call budgets shared by every replica (GCRA): each allows `burst` calls at once,
-- then one per `interval`. One call may need several (a declaration creates a channel and
-- posts in the announce channel): all are booked, or none. Returns the wait before the
-- call may go, or minus it when longer than ARGV[2] (then nothing is booked).
local now, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2])
local wait, tats = 0, {}
for i, key in ipairs(KEYS) do
  local interval, burst = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  tats[i] = tat
  local w = tat - (burst - 1) * interval - now
  if w > wait then wait = w end
end
if wait > max_wait then return tostring(-wait) end
for i, key in ipairs(KEYS) do
  local new_tat = tats[i] + tonumber(ARGV[1 + 2 * i])
  redis.call('SET', key, tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
end
return tostring(wait)
