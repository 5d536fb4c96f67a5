-- (lib_forget.lua comes first.)
-- Resolved alerts older than ARGV[1] leave the group; a change is due at once (ARGV[2]).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = prune(KEYS[1], KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[1]))
if n > 0 then
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  redis.call('HSET', KEYS[1], 'changed_at', ARGV[2])
  redis.call('ZADD', KEYS[5], ARGV[2], ARGV[3])
end
return n
