-- Fields of a group that still exists (it has its `key`).
if redis.call('HEXISTS', KEYS[1], 'key') == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
