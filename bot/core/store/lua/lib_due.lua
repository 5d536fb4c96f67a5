-- Durable time (bot/core/schedule.py): an incident's due-state is ONE string key, JSON,
-- read once and written once per script: its lanes' floors (f: lane -> generation), its
-- pending items (i: id -> {t token, l lane, g generation, d due_at, a the score it was
-- last written with, n claims counted, c first claimed at, e last error, p payload}) and
-- each item id's latest send record (s: id -> {t token, r record JSON}). Numbers stay
-- strings, so nothing is rounded. Item keys are built from the prefix: one Redis, not a
-- cluster.
local function due_load(key)
  local raw = redis.call('GET', key)
  local st = {}
  if raw then st = cjson.decode(raw) end
  if type(st.f) ~= 'table' then st.f = {} end
  if type(st.i) ~= 'table' then st.i = {} end
  if type(st.s) ~= 'table' then st.s = {} end
  return st
end

-- Written back with its lifetime in the same command: `keep` seconds, or a week past its
-- furthest item.
local function due_save(key, st, now, keep)
  local ttl = keep
  for _, rec in pairs(st.i) do
    local left = tonumber(rec.d) - now + 604800
    if left > ttl then ttl = left end
  end
  redis.call('SET', key, cjson.encode(st), 'EX', math.ceil(ttl))
end

local function due_incident(id)
  return string.match(id, '^([^|]*)|') or ''
end

-- An incident's state, read once per script call: `states` holds those read so far.
local function due_state(states, prefix, incident)
  local key = prefix .. 'due:state:' .. incident
  local st = states[key]
  if not st then
    st = due_load(key)
    states[key] = st
  end
  return st, key
end

local function due_floor(st, lane)
  return tonumber(st.f[lane] or '-1')
end

-- An item stored by the older format (a hash per item, a set and a floor hash per incident),
-- moved into the state `st` when it comes due: counted on from the score it has now.
local function due_legacy(prefix, id, incident, score, st)
  local ik = prefix .. 'due:item:' .. id
  local raw = redis.call('HGETALL', ik)
  if #raw == 0 then return nil end
  local h = {}
  for n = 1, #raw, 2 do h[raw[n]] = raw[n + 1] end
  redis.call('DEL', ik)
  redis.call('SREM', prefix .. 'due:of:' .. incident, id)
  local old = redis.call('HGET', prefix .. 'due:gen:' .. incident, h.lane)
  if old and tonumber(old) > due_floor(st, h.lane) then st.f[h.lane] = old end
  local rec = {t = h.token, l = h.lane, g = h.generation, d = h.due_at, a = score,
    n = h.attempts or '0', c = h.first_claimed_at or '', e = h.last_error or '',
    p = h.payload or '{}'}
  st.i[id] = rec
  return rec
end
