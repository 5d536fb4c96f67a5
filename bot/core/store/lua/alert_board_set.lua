-- What a board's message shows (ARGV[2..]), unless a new window began (its start is not ARGV[1]).
if redis.call('HGET', KEYS[1], 'start') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
return 1
