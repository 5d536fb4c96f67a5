-- (lib_dropped.lua and lib_forget.lua come first.)
-- Apply one group's alerts: ARGV[21..] a fingerprint, status, body and stream entry (its
-- sortable sequence) each, so one call may carry several entries' alerts of the group;
-- ARGV[2] the last entry, at which a complete report's unnamed alerts resolve. An alert's
-- state changes only for a later entry than the one that set it, so redelivered or
-- reordered entries change nothing; a status change bumps the version and makes the group
-- due in its lane, in the same script (no lost wake-up). Bounded: a new group is kept out
-- (-1: `max_groups` of its class, after evicting the oldest quiet one fails; -2:
-- `groups_per_minute`); a group tracks `max_instances` fingerprints (a firing one beyond
-- them takes a resolved one's place, or is only counted in the HyperLogLog `extra`);
-- bodies are kept for `keep` alerts (the sample Slack shows); resolved alerts are dropped
-- after the flap window.
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
local function set(fp, status, body, seq)
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
for i = 21, #ARGV, 4 do
  seen[ARGV[i]] = true
  set(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
end
if complete ~= '' then
  -- a complete report (a Slack message): its source's alerts not named have resolved
  local all = redis.call('HGETALL', state)
  for j = 1, #all, 2 do
    local fp = all[j]
    if not seen[fp] and string.sub(fp, 1, #complete) == complete
        and string.sub(all[j + 1], -7) == '|firing' then
      set(fp, 'resolved', '', seq)
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
