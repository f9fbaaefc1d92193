-- fetch: KEYS[1] = the number→id hash holding a number; ARGV = the number's field in it, the number,
-- and the prefixes of the record, member-zset and forward keys of its slot. Read-only. Returns false
-- when the number has no record (deleted, or replaced by a version with another number: its
-- postings are on their way out), else {record} or, when the record's cluster lives in this slot
-- too, {record, head, canonical}. The keys read after the hash are in its slot, not in KEYS: their
-- names are completed with what is read here.
--
-- A cluster shares its founder's slot, and most candidates are founders (the original a copy meets
-- first), so the cluster's head usually comes with the record: `head` is {'h', first member} or
-- {'f', survivor, members still to move}, as `head.lua` answers, and `canonical` is the first
-- member's record when that is in this slot too (the founder's, unless it left: false otherwise).
-- That saves the lookup a step of its own for the heads (see "Round trips" in cluster/ingest.rs). A
-- cluster's keys are named with its own slot's tag, so they exist under this slot's prefixes only if
-- it lives here; when neither does (it lives elsewhere, or it is empty), `resolve` finds out.

local records, zsets, forwards = ARGV[3], ARGV[4], ARGV[5]
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local record = redis.call('GET', records .. id)
if not record or record_number(record) ~= ARGV[2] then return false end
local cid = record_cluster(record)
if not cid then return {record} end
local into = redis.call('GET', forwards .. cid)
if into then return {record, {'f', into, redis.call('ZCARD', zsets .. cid)}, false} end
local first = redis.call('ZRANGE', zsets .. cid, 0, 0)[1]
if not first then return {record} end
-- a record of another slot is simply not found here
local canonical = redis.call('GET', records .. member_id(first))
if canonical and not member_matches(canonical, first) then canonical = false end
return {record, {'h', first}, canonical}
