-- One room's presence and typing of one hub batch, atomically: who is in the room on which
-- node, a user counted once however many nodes it is on (first join, last leave), and one
-- publish of what every node is to tell its members.
--
-- KEYS: 1 the room's members (hash "<node>|<user id>" -> user JSON), 2 its users (hash
--       user id -> how many nodes it is on).
-- ARGV: 1 the room's channel, 2 "PUBLISH" or "SPUBLISH", 3 this node's id, then triples:
--       op, user id, user JSON. op: "j" joined here, "l" left here, "x" the node named by
--       the user id slot died (sweep all its members), "T"/"t" typing on/off (never stored),
--       "r" (first, ids empty) the "j"s that follow are all of this node's members here:
--       any other of this node's members leaves (after Redis was away, or this node was
--       taken for dead).
-- Every line names this node, the caller (also a swept node's members' leave): the caller
-- tells its own members from the answer, in order with its own appends; the other nodes
-- tell theirs from the channel.
-- Returns what was published (empty when nothing was).
local members, users = KEYS[1], KEYS[2]
local channel, publish, node = ARGV[1], ARGV[2], ARGV[3]
local lines = {}
local syncing, keep = false, {}

local function left(of, id, json)
  if redis.call('HDEL', members, of .. '|' .. id) == 1 then
    if redis.call('HINCRBY', users, id, -1) <= 0 then
      redis.call('HDEL', users, id)
      lines[#lines + 1] = 'p:' .. node .. ':l:' .. json .. '\n'
    end
  end
end

for i = 4, #ARGV, 3 do
  local op, id, json = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 'j' then
    keep[id] = true
    if redis.call('HSETNX', members, node .. '|' .. id, json) == 1 then
      if redis.call('HINCRBY', users, id, 1) == 1 then
        lines[#lines + 1] = 'p:' .. node .. ':j:' .. json .. '\n'
      end
    end
  elseif op == 'l' then
    left(node, id, json)
  elseif op == 'x' then
    local dead = id .. '|'
    local all = redis.call('HGETALL', members)
    for k = 1, #all, 2 do
      if string.sub(all[k], 1, #dead) == dead then
        left(id, string.sub(all[k], #dead + 1), all[k + 1])
      end
    end
  elseif op == 'r' then
    syncing = true
  elseif op == 'T' or op == 't' then
    lines[#lines + 1] = 't:' .. node .. ':' .. (op == 'T' and '1' or '0') .. ':' .. json .. '\n'
  end
end
if syncing then
  local own = node .. '|'
  local all = redis.call('HGETALL', members)
  for k = 1, #all, 2 do
    local id = string.sub(all[k], #own + 1)
    if string.sub(all[k], 1, #own) == own and not keep[id] then
      left(node, id, all[k + 1])
    end
  end
end
local published = table.concat(lines)
if #lines > 0 then redis.call(publish, channel, published) end
return published
