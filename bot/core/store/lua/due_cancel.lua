-- Cancel an incident's items (of a kind, lane, key: '' = any); a generation (ARGV[4])
-- raises the floor of every lane touched. Written back only when something changed.
-- KEYS: the due set, the incident's state. ARGV: kind, lane, key, generation, any key
-- ('1'), now, keep.
local st = due_load(KEYS[2])
local lanes, gone = {}, {}
if ARGV[2] ~= '' then lanes[ARGV[2]] = true end
for id, rec in pairs(st.i) do
  local kind, key = string.match(id, '^[^|]*|([^|]*)|(.*)$')
  if (ARGV[1] == '' or kind == ARGV[1]) and (ARGV[2] == '' or rec.l == ARGV[2])
      and (ARGV[5] == '1' or key == ARGV[3]) then
    st.i[id] = nil
    gone[#gone + 1] = id
    lanes[rec.l] = true
  end
end
local changed = #gone > 0
if changed then redis.call('ZREM', KEYS[1], unpack(gone)) end
if ARGV[4] ~= '' then
  for lane, _ in pairs(lanes) do
    if tonumber(ARGV[4]) > due_floor(st, lane) then
      st.f[lane] = ARGV[4]
      changed = true
    end
  end
end
if changed then due_save(KEYS[2], st, tonumber(ARGV[6]), tonumber(ARGV[7])) end
return #gone
