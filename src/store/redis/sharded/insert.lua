-- insert: KEYS[1] = the article's record, KEYS[2] = the time-index list of its publication day in its
-- slot, KEYS[3] = that slot's list of days (see sharded.rs); ARGV[1] = its new record (see record.rs),
-- ARGV[2] = its time-index entry (published as 8 bytes, then the id), ARGV[3] = the day.
-- Returns {'u', record} when the same content is stored already, {'r'} when another version is (the
-- caller removes it and calls again), else writes the article unassigned: {'n'}.

local existing = redis.call('GET', KEYS[1])
if existing then
  -- bytes 26..33 of a record are its content hash
  if string.sub(existing, 26, 33) == string.sub(ARGV[1], 26, 33) then return {'u', existing} end
  return {'r'}
end
redis.call('SET', KEYS[1], ARGV[1])
if redis.call('RPUSH', KEYS[2], ARGV[2]) == 1 then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[3]) end
return {'n'}
