-- Done: the send record (if any) kept as the item id's latest, and the item removed unless
-- it was rescheduled meanwhile (another token): then the new occurrence stays. KEYS: the due
-- set, the incident's state. ARGV: id, token, record ('' = none), now, keep.
local st = due_load(KEYS[2])
local rec = st.i[ARGV[1]]
local mine = rec ~= nil and rec.t == ARGV[2]
if mine then
  st.i[ARGV[1]] = nil
  redis.call('ZREM', KEYS[1], ARGV[1])
end
if ARGV[3] ~= '' then st.s[ARGV[1]] = {t = ARGV[2], r = ARGV[3]} end
if mine or ARGV[3] ~= '' then due_save(KEYS[2], st, tonumber(ARGV[4]), tonumber(ARGV[5])) end
if mine then return 1 end
return 0
