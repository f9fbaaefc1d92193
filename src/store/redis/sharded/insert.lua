-- insert: KEYS[1] = the article's hash; ARGV = content hash, blob, band keys (concatenated), member.
-- Returns {'u', blob, cluster or ''} when the same content is stored already, {'r'} when another
-- version is (the caller removes it and calls again), else writes the article unassigned: {'n'}.

local key = KEYS[1]
local existing = redis.call('HMGET', key, 'h', 'd', 'c')
if existing[1] then
  if existing[1] == ARGV[1] then return {'u', existing[2], existing[3] or ''} end
  return {'r'}
end
redis.call('HSET', key, 'd', ARGV[2], 'h', ARGV[1], 'k', ARGV[3], 'm', ARGV[4])
return {'n'}
