-- A range of a room's stream (XRANGE or XREVRANGE), each event as it stands: an event a
-- change touched (a message's text as last edited and its reactions, an edit whose text was
-- erased) is answered from the room's state hash instead of its entry as first stored.
--
-- KEYS: 1 the room's stream, 2 its state hash (seq -> "<ts>:<d>").
-- ARGV: 1 "XRANGE" or "XREVRANGE", 2 start, 3 end, 4 count.
-- Returns the entries in the shape XRANGE gives: {{"<seq>-0", {"t", ts, "d", d}}, ...}.
local entries = redis.call(ARGV[1], KEYS[1], ARGV[2], ARGV[3], 'COUNT', ARGV[4])
if #entries > 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  for _, entry in ipairs(entries) do
    local seq = string.match(entry[1], '^(%d+)')
    local kept = redis.call('HGET', KEYS[2], seq)
    if kept then
      local sep = string.find(kept, ':', 1, true)
      entry[2] = {'t', string.sub(kept, 1, sep - 1), 'd', string.sub(kept, sep + 1)}
    end
  end
end
return entries
