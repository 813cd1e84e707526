-- One room's appends of one hub batch, atomically: the resend rule, the seq, the stream,
-- the publish. Loaded once, called by its SHA (EVALSHA).
--
-- KEYS: 1 the room's seq counter, 2 its stream, 3 its recent client ids (zset id -> seq).
-- ARGV: 1 the room's channel, 2 the stream's cap (history.max_per_room), 3 history.max_age
--       in ms (0: none), 4 "PUBLISH" or "SPUBLISH", then pairs: client id ("" for none), d.
-- Returns one entry per pair: {1, seq, ts} stored, or {0, seq, ts, d} a resend of the
-- stored event `seq`.
local seq_key, log_key, ids_key = KEYS[1], KEYS[2], KEYS[3]
local channel, cap, max_age, publish = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
-- The resend rule's window: the last 1,000 events or the last 10 minutes.
local keep_ids, keep_ms = 1000, 600000
local last = tonumber(redis.call('GET', seq_key) or '0')
local out, published = {}, {}

local function entry_ts(seq)
  local entry = redis.call('XRANGE', log_key, seq .. '-0', seq .. '-0')[1]
  if entry then return tonumber(entry[2][2]), entry[2][4] end
  return nil
end

for i = 5, #ARGV, 2 do
  local id, d = ARGV[i], ARGV[i + 1]
  local resent = nil
  if id ~= '' then
    local seq = redis.call('ZSCORE', ids_key, id)
    if seq then
      seq = tonumber(seq)
      local ts, stored = entry_ts(seq)
      if ts and (seq > last - keep_ids or ts >= now - keep_ms) then
        resent = {0, seq, ts, stored}
      end
    end
  end
  if resent then
    out[#out + 1] = resent
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
    local ts = entry_ts(seq)
    if ts and ts >= now - keep_ms then break end
    redis.call('ZREM', ids_key, first[1])
  end
end
return out
