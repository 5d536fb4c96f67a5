-- Done: write the send record (if any) and remove the item, unless it was rescheduled
-- meanwhile (another token): then the new occurrence stays.
if ARGV[3] ~= '' then redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[4]) end
if redis.call('HGET', KEYS[2], 'token') == ARGV[2] then
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[1])
  return 1
end
return 0
