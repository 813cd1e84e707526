-- One room's appends of one hub batch, atomically: the resend rule, the rules of a change
-- (edit, delete, react) against its target, the seq, the stream, the publish. Loaded once,
-- called by its SHA (EVALSHA).
--
-- KEYS: 1 the room's seq counter, 2 its stream, 3 its recent client ids (zset id -> seq),
--       4 the state of its changed events (hash seq -> "<ts>:<d>": a message's text as last
--       edited and its reactions, an edit whose text was erased), 5 the seqs in that hash
--       (zset, so that what the stream's cap drops leaves the hash too).
-- ARGV: 1 the room's channel, 2 the stream's cap (history.max_per_room), 3 history.max_age
--       in ms (0: none), 4 "PUBLISH" or "SPUBLISH", then triples: client id ("" for none),
--       kind ("" for a plain message, else "edit", "delete" or "react"), d.
-- Returns one entry per triple: {1, seq, ts} stored, {0, seq, ts, d} a resend of the stored
-- event `seq`, {2, 0, 0, code} a change refused (not_found, forbidden, bad_request), or
-- {3, seq, ts, d} a change that changes nothing: its target `seq` as it stands.
local seq_key, log_key, ids_key, state_key, changed_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local channel, cap, max_age, publish = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
-- The resend rule's window: the last 1,000 events or the last 10 minutes.
local keep_ids, keep_ms = 1000, 600000
-- Most distinct emoji on one message.
local max_emoji = 20
local last = tonumber(redis.call('GET', seq_key) or '0')
local out, published = {}, {}
-- Whether this call changed a message's state (only then is the state hash tended).
local changed = false

-- An event as it stands: its ts and d, from the state hash when a change touched it, else
-- from the stream.
local function load(seq)
  local kept = redis.call('HGET', state_key, seq)
  if kept then
    local sep = string.find(kept, ':', 1, true)
    return tonumber(string.sub(kept, 1, sep - 1)), string.sub(kept, sep + 1)
  end
  local entry = redis.call('XRANGE', log_key, seq .. '-0', seq .. '-0')[1]
  if entry then return tonumber(entry[2][2]), entry[2][4] end
  return nil
end

local function keep(seq, ts, body)
  redis.call('HSET', state_key, seq, ts .. ':' .. cjson.encode(body))
  redis.call('ZADD', changed_key, seq, seq)
  changed = true
end

-- A react on `msg`: its reactions changed, or nil and why not ('same' or 'bad_request').
local function react(msg, change)
  local reactions = msg.r or {}
  local at, pos
  for i, r in ipairs(reactions) do
    if r.emoji == change.m then at = i break end
  end
  if at then
    for j, user in ipairs(reactions[at].users) do
      if user == change.u then pos = j break end
    end
  end
  if (pos ~= nil) == change.a then return nil, 'same' end
  if change.a and at then
    table.insert(reactions[at].users, change.u)
  elseif change.a then
    if #reactions >= max_emoji then return nil, 'bad_request' end
    reactions[#reactions + 1] = {emoji = change.m, users = {change.u}}
  else
    table.remove(reactions[at].users, pos)
    if #reactions[at].users == 0 then table.remove(reactions, at) end
  end
  return reactions
end

-- The change's rules against its target; on success the target's new state is kept.
-- Returns nil (store the change) or the script's answer for it.
local function apply(kind, d, seq)
  local change = cjson.decode(d)
  local target = tonumber(change.g)
  local ts, stored = nil, nil
  if target and target > last - cap then ts, stored = load(target) end
  if not ts or (max_age > 0 and ts < now - max_age) then return {2, 0, 0, 'not_found'} end
  local msg = cjson.decode(stored)
  if msg.k or msg.z then return {2, 0, 0, 'not_found'} end
  if kind ~= 'react' and msg.u ~= change.u then return {2, 0, 0, 'forbidden'} end
  if kind == 'edit' then
    msg.x, msg.e = change.x, now
    local edits = msg.es or {}
    edits[#edits + 1] = seq
    msg.es = edits
  elseif kind == 'delete' then
    -- Its edits lose their text with it.
    for _, edit in ipairs(msg.es or {}) do
      local edit_ts, edit_d = load(edit)
      if edit_ts then
        local body = cjson.decode(edit_d)
        body.x = nil
        keep(edit, edit_ts, body)
      end
    end
    msg = {u = msg.u, n = msg.n, c = msg.c, z = true}
  else
    local reactions, why = react(msg, change)
    if why == 'same' then return {3, target, ts, stored} end
    if why then return {2, 0, 0, why} end
    msg.r = reactions
    if #reactions == 0 then msg.r = nil end
  end
  keep(target, ts, msg)
  return nil
end

for i = 5, #ARGV, 3 do
  local id, kind, d = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local answer = nil
  if id ~= '' then
    local seq = redis.call('ZSCORE', ids_key, id)
    if seq then
      seq = tonumber(seq)
      local ts, stored = load(seq)
      if ts and (seq > last - keep_ids or ts >= now - keep_ms) then
        answer = {0, seq, ts, stored}
      end
    end
  end
  if not answer and kind ~= '' then answer = apply(kind, d, last + 1) end
  if answer then
    out[#out + 1] = answer
  else
    last = last + 1
    redis.call('XADD', log_key, 'MAXLEN', cap, last .. '-0', 't', now, 'd', d)
    if id ~= '' then redis.call('ZADD', ids_key, last, id) end
    published[#published + 1] = last .. ':' .. now .. ':' .. d .. '\n'
    out[#out + 1] = {1, last, now}
  end
end

if #published > 0 then
  redis.call('SET', seq_key, last)
  redis.call(publish, channel, table.concat(published))
  if max_age > 0 then
    -- Every event is older than max_age once the newest is: the stream goes as a whole.
    redis.call('PEXPIRE', log_key, max_age)
    redis.call('PEXPIRE', ids_key, math.max(max_age, keep_ms))
  end
  -- Ids past the window go, oldest first, a bounded number per call.
  for _ = 1, 100 do
    local first = redis.call('ZRANGE', ids_key, 0, 0, 'WITHSCORES')
    if not first[1] then break end
    local seq = tonumber(first[2])
    if seq > last - keep_ids then break end
    -- Its time only: the stream has it (a change never rewrites an entry's time).
    local entry = redis.call('XRANGE', log_key, seq .. '-0', seq .. '-0')[1]
    if entry and tonumber(entry[2][2]) >= now - keep_ms then break end
    redis.call('ZREM', ids_key, first[1])
  end
end
-- Tended only by calls that change a state, so a plain message costs nothing more: what the
-- cap dropped leaves the hash (a bounded number per call), and the hash expires max_age after
-- its last change (every message it holds is older than that change).
if changed then
  local dropped = redis.call('ZRANGEBYSCORE', changed_key, '-inf', last - cap, 'LIMIT', 0, 100)
  if #dropped > 0 then
    redis.call('HDEL', state_key, unpack(dropped))
    redis.call('ZREM', changed_key, unpack(dropped))
  end
  if max_age > 0 then
    redis.call('PEXPIRE', state_key, max_age)
    redis.call('PEXPIRE', changed_key, max_age)
  end
end
return out
