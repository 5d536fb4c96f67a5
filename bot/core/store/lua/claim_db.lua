-- Claim the db for a prefix: already its, or empty (then marked); else some key that is not.
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
if redis.call('DBSIZE') == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  return false
end
return redis.call('RANDOMKEY')
