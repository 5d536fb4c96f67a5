-- (lib_accept.lua comes first.) Webhook POSTs' batches, in one call, each exactly as alone
-- and in order; ARGV holds six values a POST: the batch, max_bytes, the index in KEYS of
-- its sender's rate (0: none), now, interval and burst. With a rate, one use is booked
-- with the GCRA of pace.lua first: over it, nothing is booked and nothing stored. Then the
-- batch is accepted (lib_accept.lua). Returns two values a POST: 1 stored, -1 the stream
-- is full (a use stays booked, as for any POST refused after its rate) or 2 over the
-- rate; and the seconds to wait before sending again (2 only, else 0).
local out = {}
for i = 1, #ARGV, 6 do
  local code, wait, rate = nil, '0', tonumber(ARGV[i + 2])
  if rate > 0 then
    local now, interval = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
    local tat = tonumber(redis.call('GET', KEYS[rate]) or '0')
    if tat < now then tat = now end
    local w = tat - (tonumber(ARGV[i + 5]) - 1) * interval - now
    if w > 0 then
      code, wait = 2, tostring(w)
    else
      local new_tat = tat + interval
      local ms = math.ceil((new_tat - now) * 1000) + 1000
      redis.call('SET', KEYS[rate], tostring(new_tat), 'PX', ms)
    end
  end
  out[#out + 1] = code or accept(KEYS[1], KEYS[2], nil, ARGV[i], tonumber(ARGV[i + 1]), 0)
  out[#out + 1] = wait
end
return out
