-- A webhook POST's batch in one round trip: one use of its sender's rate (KEYS[3]) booked
-- with the GCRA of pace.lua (ARGV[3] now, ARGV[4] interval, ARGV[5] burst), then the batch
-- accepted (lib_accept.lua). Returns {1} stored; {-1} the stream is full (the use stays
-- booked, as for any POST refused after its rate); {2, wait}: over the rate for `wait`
-- seconds, nothing booked and nothing stored.
local now, interval, burst = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local tat = tonumber(redis.call('GET', KEYS[3]) or '0')
if tat < now then tat = now end
local wait = tat - (burst - 1) * interval - now
if wait > 0 then return {2, tostring(wait)} end
local new_tat = tat + interval
redis.call('SET', KEYS[3], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return {accept(KEYS[1], KEYS[2], nil, ARGV[1], tonumber(ARGV[2]), 0)}
