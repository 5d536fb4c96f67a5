"""The Lua scripts of the store's alert part (bot/core/store_alerts.py), each atomic in Redis.
Fragments (`_DROPPED_FN`, `_FORGET_FN`) are joined to the scripts that use them."""

# Count groups the caps kept out, in this window's notice board (KEYS[1]), and make the
# notice due (KEYS[2], the rest lane) unless it already is. ARGV: now, window, ttl.
_DROPPED_FN = """
local function dropped(notice, rest, reason, n, now, window, ttl)
  local start = tonumber(redis.call('HGET', notice, 'start') or '-1')
  if start < 0 or now - start >= window then
    redis.call('DEL', notice)
    redis.call('HSET', notice, 'start', tostring(now))
  end
  redis.call('HINCRBY', notice, 'n:' .. reason, n)
  redis.call('HINCRBY', notice, 'version', 1)
  redis.call('HSET', notice, 'lane', 'rest')
  redis.call('EXPIRE', notice, ttl)
  if not redis.call('ZSCORE', rest, '~notice') then
    redis.call('ZADD', rest, tostring(now), '~notice')
  end
end
"""

DROPPED = (
    _DROPPED_FN
    + """
dropped(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5]))
return 1
"""
)

# Accept a batch: refused (-1) while the stream holds `max_bytes` unapplied; at most once
# per key (a Slack event id: 0 when used), the marker and the entry together.
ACCEPT = """
local stream, bytes, once = KEYS[1], KEYS[2], KEYS[3]
local size, max_bytes = string.len(ARGV[1]), tonumber(ARGV[2])
if redis.call('XLEN', stream) == 0 then redis.call('SET', bytes, 0) end
if tonumber(redis.call('GET', bytes) or '0') + size > max_bytes then return -1 end
if once and not redis.call('SET', once, '1', 'NX', 'EX', ARGV[3]) then return 0 end
redis.call('XADD', stream, '*', 'b', ARGV[1])
redis.call('INCRBY', bytes, size)
return 1
"""

# A resolved alert leaves its group: a fingerprint, its body and its resolved mark.
_FORGET_FN = """
local function forget(meta, state, bodies, resolved, fp)
  redis.call('HDEL', state, fp)
  redis.call('HDEL', bodies, fp)
  redis.call('ZREM', resolved, fp)
  redis.call('HINCRBY', meta, 'resolved', -1)
end
local function prune(meta, state, bodies, resolved, before)
  local old = redis.call('ZRANGEBYSCORE', resolved, '-inf', before, 'LIMIT', 0, 1000)
  for _, fp in ipairs(old) do forget(meta, state, bodies, resolved, fp) end
  return #old
end
"""

# Apply one group's alerts from stream entry ARGV[2] (a sortable sequence). An alert's
# state changes only for a later entry than the one that set it, so redelivered or
# reordered entries change nothing; a status change bumps the version and makes the group
# due in its lane, in the same script (no lost wake-up). Bounded: a new group is kept out
# (-1: `max_groups` of its class, after evicting the oldest quiet one fails; -2:
# `groups_per_minute`); a group tracks `max_instances` fingerprints (a firing one beyond
# them takes a resolved one's place, or is only counted in the HyperLogLog `extra`);
# bodies are kept for `keep` alerts (the sample Slack shows); resolved alerts are dropped
# after the flap window.
APPLY = (
    _DROPPED_FN
    + _FORGET_FN
    + """
local meta, state, bodies, resolved, extra = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local due, groups, created, notice, rest = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local gid, seq, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local complete, lane, cls, base = ARGV[5], ARGV[11], ARGV[12], ARGV[20]
local max_instances, keep, flap = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local max_groups, per_minute = tonumber(ARGV[16]), tonumber(ARGV[17])
local quiet, window = tonumber(ARGV[18]), tonumber(ARGV[19])
local function evict()
  local oldest = redis.call('ZRANGE', groups, 0, 4, 'WITHSCORES')
  for i = 1, #oldest, 2 do
    local g, seen = oldest[i], tonumber(oldest[i + 1])
    if seen > now - quiet then return false end
    local b = base .. g
    if tonumber(redis.call('HGET', b, 'firing') or '0') == 0 then
      redis.call('DEL', b, b .. ':state', b .. ':alerts', b .. ':resolved', b .. ':extra')
      redis.call('ZREM', groups, g)
      for k = 11, 13 do redis.call('ZREM', KEYS[k], g) end
      return true
    end
  end
  return false
end
if redis.call('EXISTS', meta) == 0 then
  redis.call('ZREMRANGEBYSCORE', groups, '-inf', now - ttl)
  local reason = nil
  if redis.call('ZCARD', groups) >= max_groups and not evict() then reason = 'total' end
  if not reason then
    local n = redis.call('INCR', created)
    if n == 1 then redis.call('EXPIRE', created, 120) end
    if n > per_minute then reason = 'minute' end
  end
  if reason then
    dropped(notice, rest, reason, 1, now, window, ttl)
    return reason == 'total' and -1 or -2
  end
  redis.call('HSET', meta, 'key', ARGV[6], 'alertname', ARGV[7], 'group', ARGV[8],
    'source', ARGV[9], 'version', 0, 'firing', 0, 'resolved', 0, 'fired', 0,
    'handled_fired', 0, 'created', ARGV[3])
end
redis.call('ZADD', groups, ARGV[3], gid)
local old_lane = redis.call('HGET', meta, 'lane')
if old_lane and old_lane ~= lane then
  for k = 11, 13 do if KEYS[k] ~= due then redis.call('ZREM', KEYS[k], gid) end end
end
redis.call('HSET', meta, 'lane', lane, 'class', cls)
if ARGV[10] ~= '' then redis.call('HSET', meta, 'link', ARGV[10]) end
local firing_before = tonumber(redis.call('HGET', meta, 'firing'))
local changed = prune(meta, state, bodies, resolved, now - flap) > 0
local function room_for_body()
  if redis.call('HLEN', bodies) < keep then return true end
  for _, b in ipairs(redis.call('HKEYS', bodies)) do
    local s = redis.call('HGET', state, b)
    if (not s) or string.sub(s, -9) == '|resolved' then
      redis.call('HDEL', bodies, b)
      return true
    end
  end
  return false
end
local function set(fp, status, body)
  local cur = redis.call('HGET', state, fp)
  local cur_seq, cur_status = '', ''
  if cur then
    cur_seq, cur_status = string.match(cur, '^([^|]*)|(.*)$')
    if cur_seq >= seq then return end
  elseif redis.call('HLEN', state) >= max_instances then
    if status ~= 'firing' then return end
    local oldest = redis.call('ZRANGE', resolved, 0, 0)
    if #oldest == 0 then
      if redis.call('PFADD', extra, fp) == 1 then changed = true end
      return
    end
    forget(meta, state, bodies, resolved, oldest[1])
  end
  redis.call('HSET', state, fp, seq .. '|' .. status)
  if body ~= '' then
    if redis.call('HEXISTS', bodies, fp) == 1 then redis.call('HSET', bodies, fp, body)
    elseif status == 'firing' and room_for_body() then redis.call('HSET', bodies, fp, body)
    elseif redis.call('HLEN', bodies) < keep then redis.call('HSET', bodies, fp, body) end
  end
  if status == cur_status then return end
  changed = true
  if status == 'firing' then
    redis.call('HINCRBY', meta, 'firing', 1)
    redis.call('HINCRBY', meta, 'fired', 1)
    redis.call('ZREM', resolved, fp)
    if cur_status == 'resolved' then redis.call('HINCRBY', meta, 'resolved', -1) end
  else
    redis.call('HINCRBY', meta, 'resolved', 1)
    redis.call('ZADD', resolved, ARGV[3], fp)
    if cur_status == 'firing' then redis.call('HINCRBY', meta, 'firing', -1) end
  end
end
local seen = {}
for i = 21, #ARGV, 3 do
  seen[ARGV[i]] = true
  set(ARGV[i], ARGV[i + 1], ARGV[i + 2])
end
if complete ~= '' then
  -- a complete report (a Slack message): its source's alerts not named have resolved
  local all = redis.call('HGETALL', state)
  for j = 1, #all, 2 do
    local fp = all[j]
    if not seen[fp] and string.sub(fp, 1, #complete) == complete
        and string.sub(all[j + 1], -7) == '|firing' then
      set(fp, 'resolved', '')
    end
  end
end
redis.call('HSET', meta, 'last_seen', ARGV[3])
local firing_after = tonumber(redis.call('HGET', meta, 'firing'))
if firing_after == 0 and redis.call('DEL', extra) == 1 then changed = true end
if changed then
  redis.call('HINCRBY', meta, 'version', 1)
  redis.call('HSET', meta, 'changed_at', ARGV[3])
  -- Starting to fire, or all resolved, is acted on now. More or fewer alerts of a group
  -- that keeps firing only change its message: that waits for the message's next edit
  -- (hold_until), so a storm costs one reconcile a group per edit, not one an alert.
  local at = now
  if (firing_before > 0) == (firing_after > 0) then
    local hold = tonumber(redis.call('HGET', meta, 'hold_until') or '0')
    if hold > at then at = hold end
  end
  local cur = redis.call('ZSCORE', due, gid)
  if (not cur) or tonumber(cur) > at then redis.call('ZADD', due, tostring(at), gid) end
end
for _, k in ipairs({meta, state, bodies, resolved, extra}) do redis.call('EXPIRE', k, ttl) end
return changed and 1 or 0
"""
)

# Resolved alerts older than ARGV[1] leave the group; a change is due at once (ARGV[2]).
PRUNE = (
    _FORGET_FN
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local n = prune(KEYS[1], KEYS[2], KEYS[3], KEYS[4], tonumber(ARGV[1]))
if n > 0 then
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  redis.call('HSET', KEYS[1], 'changed_at', ARGV[2])
  redis.call('ZADD', KEYS[5], ARGV[2], ARGV[3])
end
return n
"""
)

# The reconciler is done with a version of the group: drop it from its lane's due set (or
# keep it due at ARGV[3]) only if nothing changed meanwhile; otherwise it is due now.
SETTLE = """
local lanes = {page = KEYS[2], rule = KEYS[3], rest = KEYS[4]}
local due = lanes[redis.call('HGET', KEYS[1], 'lane') or 'rule'] or KEYS[3]
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[2] then
  redis.call('ZADD', due, ARGV[4], ARGV[1])
  return 0
end
if ARGV[3] == '' then redis.call('ZREM', due, ARGV[1])
else redis.call('ZADD', due, ARGV[3], ARGV[1]) end
return 1
"""

# A group shows in the unmatched digest (KEYS[1] the board, KEYS[2] its members): a firing
# group (ARGV[3] = 1) joins this window's digest, opening a new window when the last one is
# over (the old message stays as it was); a member that changed makes the digest due
# (KEYS[3], the rest lane). Returns the window's start, or "" (not a member).
DIGEST_JOIN = """
local board, members, rest = KEYS[1], KEYS[2], KEYS[3]
local gid, now, join, window, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1',
  tonumber(ARGV[4]), tonumber(ARGV[5])
local start = tonumber(redis.call('HGET', board, 'start') or '-1')
local member = redis.call('ZSCORE', members, gid)
if start < 0 or now - start >= window then
  if not join then return '' end
  redis.call('DEL', board, members)
  redis.call('HSET', board, 'start', ARGV[2])
  start, member = now, nil
end
if not member then
  if not join then return '' end
  redis.call('ZADD', members, ARGV[2], gid)
end
redis.call('HINCRBY', board, 'version', 1)
redis.call('HSET', board, 'lane', 'rest')
redis.call('EXPIRE', board, ttl)
redis.call('EXPIRE', members, ttl)
if not redis.call('ZSCORE', rest, '~digest') then redis.call('ZADD', rest, ARGV[2], '~digest') end
return redis.call('HGET', board, 'start')
"""

# Slack call budgets shared by every replica (GCRA): each allows `burst` calls at once,
# then one per `interval`. One call may need several (a declaration creates a channel and
# posts in the announce channel): all are booked, or none. Returns the wait before the
# call may go, or minus it when longer than ARGV[2] (then nothing is booked).
PACE = """
local now, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2])
local wait, tats = 0, {}
for i, key in ipairs(KEYS) do
  local interval, burst = tonumber(ARGV[1 + 2 * i]), tonumber(ARGV[2 + 2 * i])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  tats[i] = tat
  local w = tat - (burst - 1) * interval - now
  if w > wait then wait = w end
end
if wait > max_wait then return tostring(-wait) end
for i, key in ipairs(KEYS) do
  local new_tat = tats[i] + tonumber(ARGV[1 + 2 * i])
  redis.call('SET', key, tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
end
return tostring(wait)
"""

# Fields of a group that still exists (it has its `key`).
GROUP_SET = """
if redis.call('HEXISTS', KEYS[1], 'key') == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""
