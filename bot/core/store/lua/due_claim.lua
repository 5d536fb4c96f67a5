-- Claim: every due item (up to a limit) gets its score pushed to the lease's end, so it
-- comes due again only if the claimer never acks it. Stale items are dropped here. An
-- item's claims are counted without a write: its score still being the one it was written
-- with (a) means none since; otherwise one claim ran out its lease unfinished, and this
-- claim writes the count and its own lease down. KEYS: the due set. ARGV: now, lease end,
-- limit, prefix, keep, the older format's due set ('' = not this time).
-- Returns {stale, next due score or false, item, item, ...}.
local out = {0, false}
local states, dirty, dropped, leased = {}, {}, {}, {}
local function state_of(id)
  return due_state(states, ARGV[4], due_incident(id))
end
if ARGV[6] ~= '' then
  -- the older format's due set (ARGV[6]), looked at now and then: what is due there moves
  -- over (what an old replica has claimed is not due until its lease ends)
  local old = redis.call('ZRANGEBYSCORE', ARGV[6], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0,
    tonumber(ARGV[3]))
  local moved = {}
  for n = 1, #old, 2 do
    local id, score = old[n], old[n + 1]
    local st, key = state_of(id)
    if not st.i[id] and due_legacy(ARGV[4], id, due_incident(id), score, st) then
      dirty[key] = true
      redis.call('ZADD', KEYS[1], score, id)
    end
    moved[#moved + 1] = id
  end
  if #moved > 0 then redis.call('ZREM', ARGV[6], unpack(moved)) end
end
-- the due items and the first one not yet due, in one read: when to look next
local limit = tonumber(ARGV[3])
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '+inf', 'WITHSCORES', 'LIMIT', 0,
  limit + 1)
local now = tonumber(ARGV[1])
for n = 1, #found, 2 do
  local id, score = found[n], found[n + 1]
  if tonumber(score) > now or n > 2 * limit then
    out[2] = score
    break
  end
  local st, key = state_of(id)
  local rec = st.i[id]
  if not rec then
    dropped[#dropped + 1] = id
  elseif tonumber(rec.g) < due_floor(st, rec.l) then
    st.i[id] = nil
    dirty[key] = true
    dropped[#dropped + 1] = id
    out[1] = out[1] + 1
  else
    local attempts = tonumber(rec.n) + 1
    local first = rec.c
    if tonumber(score) ~= tonumber(rec.a) then
      attempts = attempts + 1
      if first == '' then first = rec.a end
      rec.n, rec.a, rec.c = tostring(attempts), ARGV[2], first
      dirty[key] = true
    elseif first == '' then
      first = ARGV[1]
    end
    leased[#leased + 1] = ARGV[2]
    leased[#leased + 1] = id
    out[#out + 1] = {id, rec.t, rec.l, rec.g, rec.d, tostring(attempts), first, rec.e, rec.p}
  end
end
if #dropped > 0 then redis.call('ZREM', KEYS[1], unpack(dropped)) end
if #leased > 0 then redis.call('ZADD', KEYS[1], unpack(leased)) end
for key, _ in pairs(dirty) do due_save(key, states[key], tonumber(ARGV[1]), tonumber(ARGV[5])) end
if #leased > 0 and (not out[2] or tonumber(out[2]) > tonumber(ARGV[2])) then out[2] = ARGV[2] end
return out
