-- A claimed item comes due again at ARGV[3], unless it was rescheduled (another token); its
-- claims so far and its first claim are written down with it. KEYS: the due set, the
-- incident's state. ARGV: id, token, at, error, attempts, first claimed at, now, keep.
local st = due_load(KEYS[2])
local rec = st.i[ARGV[1]]
if not rec or rec.t ~= ARGV[2] then return 0 end
rec.a, rec.e, rec.n, rec.c = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
due_save(KEYS[2], st, tonumber(ARGV[7]), tonumber(ARGV[8]))
return 1
