-- Schedule: (incident, kind, key) gets ONE pending occurrence. Lane floors: a newer
-- generation than the lane's floor raises it and removes the lane's older items at once;
-- an older one is refused (0). KEYS: the due set, the incident's state. ARGV: id, token,
-- lane, generation, due_at, payload, now, keep, the wake-up channel ('' = none: the
-- scheduling replica times the item itself).
local st = due_load(KEYS[2])
local id, lane, gen = ARGV[1], ARGV[3], tonumber(ARGV[4])
local floor = due_floor(st, lane)
if gen < floor then return 0 end
if gen > floor then
  st.f[lane] = ARGV[4]
  local gone = {}
  for other, rec in pairs(st.i) do
    if other ~= id and rec.l == lane and tonumber(rec.g) < gen then
      st.i[other] = nil
      gone[#gone + 1] = other
    end
  end
  if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end
end
st.i[id] = {t = ARGV[2], l = lane, g = ARGV[4], d = ARGV[5], a = ARGV[5], n = '0', c = '',
  e = '', p = ARGV[6]}
redis.call('ZADD', KEYS[1], ARGV[5], id)
due_save(KEYS[2], st, tonumber(ARGV[7]), tonumber(ARGV[8]))
if ARGV[9] ~= '' then redis.call('PUBLISH', ARGV[9], ARGV[5]) end
return 1
