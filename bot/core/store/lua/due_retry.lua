-- A claimed item comes due again at ARGV[3], unless it was rescheduled (another token).
if redis.call('HGET', KEYS[2], 'token') == ARGV[2] then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  redis.call('HSET', KEYS[2], 'last_error', ARGV[4])
  return 1
end
return 0
