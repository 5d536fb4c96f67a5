-- Due-item writes, any number in one call (a process sends together the ones asked for while
-- its previous call was under way): each incident's state read once and written once, one
-- ZADD and one ZREM for the due set, one wake-up. ARGV: prefix, now, keep, then one op per
-- argument, a JSON array of strings:
--   schedule {'s', id, token, lane, generation, due_at, payload, wake '1' | '', lease end,
--     now}: 1, or 0 when refused. (incident, kind, key) gets ONE pending occurrence; a newer
--     generation than the lane's floor raises it and removes the lane's older items at once;
--     an older one is refused. A wake-up is published for a process that will not time the
--     item itself. With a lease end ('' = none) it is claimed at once, by the caller.
--   cancel {'c', incident, kind, lane, key, generation, any key '1' | '0'} ('' = any): how
--     many were removed; a generation raises the floor of every lane touched.
--   done {'d', id, token, record ('' = none)}: 1 when this removed the item; the record is
--     kept as the id's latest; an item rescheduled meanwhile (another token) stays.
--   retry {'r', id, token, at, error, attempts, first claimed at}: due again at `at` with its
--     claims written down, unless rescheduled (0).
local prefix, now, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local states, dirty, zset = {}, {}, {}
local wake = nil

local function state_of(incident)
  return due_state(states, prefix, incident)
end

local function schedule(op)
  local id, lane, gen = op[2], op[4], tonumber(op[5])
  local st, key = state_of(due_incident(id))
  local floor = due_floor(st, lane)
  if gen < floor then return 0 end
  if gen > floor then
    st.f[lane] = op[5]
    for other, rec in pairs(st.i) do
      if other ~= id and rec.l == lane and tonumber(rec.g) < gen then
        st.i[other] = nil
        zset[other] = false
      end
    end
  end
  local rec = {t = op[3], l = lane, g = op[5], d = op[6], a = op[6], n = '0', c = '', e = '',
    p = op[7]}
  if op[9] ~= '' then rec.a, rec.n, rec.c = op[9], '1', op[10] end
  st.i[id] = rec
  zset[id] = rec.a
  dirty[key] = true
  if op[8] == '1' and (wake == nil or tonumber(op[6]) < tonumber(wake)) then wake = op[6] end
  return 1
end

local function cancel(op)
  local st, key = state_of(op[2])
  local lanes, n = {}, 0
  if op[4] ~= '' then lanes[op[4]] = true end
  for id, rec in pairs(st.i) do
    local kind, k = string.match(id, '^[^|]*|([^|]*)|(.*)$')
    if (op[3] == '' or kind == op[3]) and (op[4] == '' or rec.l == op[4])
        and (op[7] == '1' or k == op[5]) then
      st.i[id] = nil
      zset[id] = false
      lanes[rec.l] = true
      n = n + 1
      dirty[key] = true
    end
  end
  if op[6] ~= '' then
    for lane, _ in pairs(lanes) do
      if tonumber(op[6]) > due_floor(st, lane) then
        st.f[lane] = op[6]
        dirty[key] = true
      end
    end
  end
  return n
end

local function done(op)
  local id = op[2]
  local st, key = state_of(due_incident(id))
  local rec = st.i[id]
  local mine = rec ~= nil and rec.t == op[3]
  if mine then
    st.i[id] = nil
    zset[id] = false
    dirty[key] = true
  end
  if op[4] ~= '' then
    st.s[id] = {t = op[3], r = op[4]}
    dirty[key] = true
  end
  if mine then return 1 end
  return 0
end

local function retry(op)
  local id = op[2]
  local st, key = state_of(due_incident(id))
  local rec = st.i[id]
  if not rec or rec.t ~= op[3] then return 0 end
  rec.a, rec.e, rec.n, rec.c = op[4], op[5], op[6], op[7]
  zset[id] = op[4]
  dirty[key] = true
  return 1
end

local ops = {s = schedule, c = cancel, d = done, r = retry}
local out = {}
for n = 4, #ARGV do
  local op = cjson.decode(ARGV[n])
  out[#out + 1] = ops[op[1]](op)
end
local adds, gone = {}, {}
for id, score in pairs(zset) do
  if score then
    adds[#adds + 1] = score
    adds[#adds + 1] = id
  else
    gone[#gone + 1] = id
  end
end
if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end
if #adds > 0 then redis.call('ZADD', KEYS[1], unpack(adds)) end
for key, _ in pairs(dirty) do due_save(key, states[key], now, keep) end
if wake then redis.call('PUBLISH', prefix .. 'due:wake', wake) end
return out
