-- insert: KEYS[1] = the article's record, KEYS[2] = its slot's number counter, KEYS[3] = the
-- time-index list of its publication day in its slot, KEYS[4] = that slot's list of days (see
-- sharded.rs); ARGV = its new record (see record.rs), its id, the prefix of its slot's number→id
-- hashes, its slot (0..4095), its time-index entry (published as 8 bytes, then the id), the day.
-- Returns {'u', record} when the same content is stored already, {'r'} when another version is (the
-- caller removes it and calls again), else numbers the article (seq * 4096 + slot, so the number
-- tells the slot of its hash and record), maps the number to the id, writes the record unassigned,
-- appends it to the time index and returns {'n', number}. The number→id hash is in the record's slot
-- (same hash tag) but not in KEYS: its name depends on the number this script draws.

local existing = redis.call('GET', KEYS[1])
if existing then
  -- bytes 26..33 of a record are its content hash
  if string.sub(existing, 26, 33) == string.sub(ARGV[1], 26, 33) then return {'u', existing} end
  return {'r'}
end
local seq = redis.call('INCR', KEYS[2])
local number = number_bytes(seq * 4096 + tonumber(ARGV[4]))
redis.call('HSET', ARGV[3] .. math.floor(seq / 64), seq % 64, ARGV[2])
redis.call('SET', KEYS[1], with_number(ARGV[1], number))
if redis.call('RPUSH', KEYS[3], ARGV[5]) == 1 then redis.call('ZADD', KEYS[4], ARGV[6], ARGV[6]) end
return {'n', number}
