-- Create the install record (unless another replica just did) and raise each day's
-- counter to at least the number given (what Slack already holds): KEYS = record, then one
-- seq key per day; ARGV = epoch, created_at, lost_at ("" = none), then one number per day.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'created_at', ARGV[2], 'lost_at', ARGV[3])
for i = 2, #KEYS do
  local n = tonumber(ARGV[i + 2])
  if tonumber(redis.call('GET', KEYS[i]) or '0') < n then
    redis.call('SET', KEYS[i], n, 'EX', 3 * 86400)
  end
end
return 1
