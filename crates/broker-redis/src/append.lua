-- The appends of one hub batch, atomically, for one or more rooms (every room of the batch on
-- a single Redis; one room per call on a cluster, where a call's keys share a slot): per room
-- the resend rule, the rules of a change (edit, delete, react) against its target, the seq,
-- the stream, the publish. Loaded once, called by its SHA (EVALSHA). One call per batch
-- rather than one per room: what a call costs Redis besides its commands is paid once.
--
-- KEYS: five per room, in the rooms' order: 1 the room's seq counter, 2 its stream, 3 its
--       recent client ids (zset id -> seq), 4 the state of its changed events (hash seq ->
--       "<ts>:<d>": a message's text as last edited and its reactions, an edit whose text was
--       erased), 5 the seqs in that hash (zset, so that what the stream's cap drops leaves
--       the hash too).
-- ARGV: 1 the stream's cap (history.max_per_room), 2 history.max_age in ms (0: none),
--       3 "PUBLISH" or "SPUBLISH", then per room: its channel, how many drafts, and per draft
--       a triple: client id ("" for none), kind ("" for a plain message, else "edit",
--       "delete" or "react"), d.
-- Returns the call's time (every event it stores has it), then one entry per triple, every
-- room's in order: seq (an integer) a plain message stored, {1, seq, ts} a change stored
-- ({1, seq, ts, f} for a delete of a message with files: f its files' JSON, for the node to
-- remove them), {0, seq, ts, d} a resend of the stored event `seq`, {2, 0, 0, code} a change
-- refused (not_found, forbidden, bad_request), or {3, seq, ts, d} a change that changes
-- nothing: its target `seq` as it stands.
--
-- What a message costs Redis here is mostly what a redis.call costs and formatting numbers
-- (docs/BENCHMARKS.md, "several nodes"): each number is formatted once (the cap and the time
-- per call, a seq per message) and commands get that string, the tables of a room are reused
-- by the next one, and a plain message's answer is its seq.
local cap, max_age, publish = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local cap_arg, now_arg = ARGV[1], tostring(now)
local line_ts = ':' .. now_arg .. ':'
-- The resend rule's window: the last 1,000 events or the last 10 minutes.
local keep_ids, keep_ms = 1000, 600000
-- The ids past the window are looked for once every this many seqs of a room, not per call.
local trim_every = 64
-- Most distinct emoji on one message.
local max_emoji = 20
local out = {now}
-- Every room's in turn (see append_room): ids to look up, their index by draft, the ids
-- stored in this call, ZADD's arguments, the published lines.
local ids, id_at, added, new_ids, published, none = {}, {}, {}, {}, {}, {}
-- The room being appended to: its keys, its latest seq, whether this call changed a message's
-- state in it (only then is its state hash tended).
local seq_key, log_key, ids_key, state_key, changed_key
local last, changed

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
-- Returns nil (store the change) or the script's answer for it, and then a deleted message's
-- files.
local function apply(kind, d, seq)
  local change = cjson.decode(d)
  local target = tonumber(change.g)
  local ts, stored, released = nil, nil, nil
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
    released = msg.f
    msg = {u = msg.u, n = msg.n, c = msg.c, z = true}
  else
    local reactions, why = react(msg, change)
    if why == 'same' then return {3, target, ts, stored} end
    if why then return {2, 0, 0, why} end
    msg.r = reactions
    if #reactions == 0 then msg.r = nil end
  end
  keep(target, ts, msg)
  return nil, released
end

-- Ids past the window go, oldest first, at most `most`.
local function trim_ids(most)
  for _ = 1, most do
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

-- One room's `count` drafts, their triples from ARGV[at].
local function append_room(channel, at, count)
  last = tonumber(redis.call('GET', seq_key) or '0')
  changed = false
  local first_last = last
  -- Every draft's id looked up at once; an id stored earlier in this call is in `added`.
  local n_ids, n_new, n_published, all_ids = 0, 0, 0, true
  for i = 0, count - 1 do
    local id = ARGV[at + 3 * i]
    if id ~= '' then
      n_ids = n_ids + 1
      ids[n_ids] = id
      id_at[i] = n_ids
    else
      all_ids = false
    end
  end
  local known = none
  if n_ids > 0 then known = redis.call('ZMSCORE', ids_key, unpack(ids, 1, n_ids)) end
  local seq
  for i = 0, count - 1 do
    local id, kind, d = ARGV[at + 3 * i], ARGV[at + 3 * i + 1], ARGV[at + 3 * i + 2]
    local answer, released = nil, nil
    if id ~= '' then
      local resent = added[id] or tonumber(known[all_ids and i + 1 or id_at[i]] or false)
      if resent then
        local ts, stored = load(resent)
        if ts and (resent > last - keep_ids or ts >= now - keep_ms) then
          answer = {0, resent, ts, stored}
        end
      end
    end
    if not answer and kind ~= '' then answer, released = apply(kind, d, last + 1) end
    if answer then
      out[#out + 1] = answer
    else
      last = last + 1
      seq = tostring(last)
      redis.call('XADD', log_key, 'MAXLEN', cap_arg, seq .. '-0', 't', now_arg, 'd', d)
      if id ~= '' then
        added[id] = last
        new_ids[n_new + 1] = seq
        new_ids[n_new + 2] = id
        n_new = n_new + 2
      end
      n_published = n_published + 1
      published[n_published] = seq .. line_ts .. d .. '\n'
      if kind == '' then out[#out + 1] = last else out[#out + 1] = {1, last, now, released} end
    end
  end
  -- The tables are the next room's: emptied without being made again.
  for i = 2, n_new, 2 do added[new_ids[i]] = nil end

  if n_published > 0 then
    redis.call('SET', seq_key, seq)
    if n_new > 0 then redis.call('ZADD', ids_key, unpack(new_ids, 1, n_new)) end
    redis.call(publish, channel, table.concat(published, '', 1, n_published))
    if max_age > 0 then
      -- Every event is older than max_age once the newest is: the stream goes as a whole.
      redis.call('PEXPIRE', log_key, max_age)
      redis.call('PEXPIRE', ids_key, math.max(max_age, keep_ms))
    end
    -- A pass takes more than the ids added since the last one, so the set keeps up.
    if math.floor(last / trim_every) > math.floor(first_last / trim_every) then
      trim_ids(2 * trim_every + last - first_last)
    end
  end
  -- Tended only by calls that change a state, so a plain message costs nothing more: what
  -- the cap dropped leaves the hash (a bounded number per call), and the hash expires
  -- max_age after its last change (every message it holds is older than that change).
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
end

local at = 4
for room = 0, #KEYS / 5 - 1 do
  seq_key, log_key, ids_key = KEYS[5 * room + 1], KEYS[5 * room + 2], KEYS[5 * room + 3]
  state_key, changed_key = KEYS[5 * room + 4], KEYS[5 * room + 5]
  local channel, count = ARGV[at], tonumber(ARGV[at + 1])
  append_room(channel, at + 2, count)
  at = at + 2 + 3 * count
end
return out
