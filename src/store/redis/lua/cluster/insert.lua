#!lua flags=allow-cross-slot-keys
-- insert: KEYS[1] = the article's record, KEYS[2] = its slot's number counter, KEYS[3] = the
-- time-index list of its publication day in its slot, KEYS[4] = that slot's list of days (see
-- cluster/mod.rs); ARGV = its new record (see record.rs), its id, the prefix of its slot's number→id
-- hashes, its slot (0..SLOTS-1), its time-index entry (published as 8 bytes, then the id), the day,
-- the most numbers a band key holds (as `post`), then the article's band keys as pairs of posting
-- bucket root and field.
-- Returns {'u', record} when the same content is stored already, {'r'} when another version is (the
-- caller removes it and calls again), else numbers the article (seq * SLOTS + slot, so the number
-- tells the slot of its hash and record), maps the number to the id, writes the record unassigned,
-- appends it to the time index, posts the number under every band key whose bucket is on this node,
-- and returns {'n', number, found_1, found_2, …}: per band key, the numbers posted under it (as `post`
-- returns them) or false when its bucket lives on another node, where the caller posts it.
--
-- The number→id hash is in the record's slot (same hash tag) but not in KEYS: its name depends on
-- the number this script draws. The buckets are in other slots: the flag above lets a script touch
-- keys of any slot its node serves, and Redis refuses a key of a slot served elsewhere (or being
-- migrated) before the command runs: the refusal is caught here and that band key left to the post
-- stage. Any other error in a posting is left to it too: the post stage's own script will meet it and
-- report it (a posting is idempotent, and a first read precedes any write of one, so a refused
-- posting wrote nothing). Posting here saves the article's node the round trip of the post stage (see
-- "Round trips" in cluster/ingest.rs). The record is written before any posting, as the protocol requires.

local existing = redis.call('GET', KEYS[1])
if existing then
  if record_hash(existing) == record_hash(ARGV[1]) then return {'u', existing} end
  return {'r'}
end
local seq = redis.call('INCR', KEYS[2])
local number = number_bytes(seq * SLOTS + tonumber(ARGV[4]))
redis.call('HSET', ARGV[3] .. math.floor(seq / NUMBERS_PER_HASH), seq % NUMBERS_PER_HASH, ARGV[2])
redis.call('SET', KEYS[1], with_number(ARGV[1], number))
if redis.call('RPUSH', KEYS[3], ARGV[5]) == 1 then redis.call('ZADD', KEYS[4], ARGV[6], ARGV[6]) end

local cap = tonumber(ARGV[7])
local out = {'n', number}
for i = 8, #ARGV, 2 do
  local ok, found = pcall(post_number, ARGV[i], ARGV[i + 1], number, cap)
  out[#out + 1] = ok and found or false
end
return out
