-- insert: KEYS[1] = the article's record; ARGV[1] = its new record (see record.rs).
-- Returns {'u', record} when the same content is stored already, {'r'} when another version is (the
-- caller removes it and calls again), else writes the article unassigned: {'n'}.

local existing = redis.call('GET', KEYS[1])
if existing then
  -- bytes 26..33 of a record are its content hash
  if string.sub(existing, 26, 33) == string.sub(ARGV[1], 26, 33) then return {'u', existing} end
  return {'r'}
end
redis.call('SET', KEYS[1], ARGV[1])
return {'n'}
