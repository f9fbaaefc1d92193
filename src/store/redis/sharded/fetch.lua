-- fetch: KEYS[1] = the number→id hash holding a number; ARGV = the number's field in it, the number,
-- the namespace, the slot's hash tag (3 hex digits). Read-only. Returns false when the number has no
-- record (deleted, or replaced by a version with another number: its postings are on their way out),
-- else {record} or, when the record's cluster lives in this slot too, {record, head, canonical}.
-- The record is in the hash's slot, not in KEYS: its name is the id read here.
--
-- A cluster shares its founder's slot, and most candidates are founders (the original a copy meets
-- first), so the cluster's head usually comes with the record: `head` is {'h', first member or ''}
-- or {'f', survivor, members still to move}, as `head.lua` answers, and `canonical` is the first
-- member's record when that is in this slot too (the founder's, unless it left: false otherwise).
-- That saves the lookup a step of its own for the heads (see the module doc of sharded.rs).

local ns, tag = ARGV[3], ARGV[4]
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local record = redis.call('GET', ns .. ':a:{' .. tag .. '}' .. id)
if not record or record_number(record) ~= ARGV[2] then return false end
local cid = record_cluster(record)
-- the slot of a cluster id this store made: its last 8 hex digits modulo SLOTS, 4096 (`cluster_tag`)
local suffix = cid and string.sub(cid, -8)
if not suffix or not string.find(suffix, '^%x%x%x%x%x%x%x%x$') then return {record} end
if string.format('%03x', tonumber(suffix, 16) % 4096) ~= tag then return {record} end
local into = redis.call('GET', ns .. ':f:{' .. tag .. '}' .. cid)
if into then return {record, {'f', into, redis.call('ZCARD', ns .. ':c:{' .. tag .. '}' .. cid)}, false} end
local first = redis.call('ZRANGE', ns .. ':c:{' .. tag .. '}' .. cid, 0, 0)[1] or ''
local canonical = false
if first ~= '' then
  -- a member is its 33-byte rank, then the id; a record of another slot is simply not found here
  canonical = redis.call('GET', ns .. ':a:{' .. tag .. '}' .. string.sub(first, 34))
  if canonical and not member_matches(canonical, first) then canonical = false end
end
return {record, {'h', first}, canonical}
