-- claim: KEYS[1] = an article's hash; ARGV = the cluster it was added to, the member it was added as.
-- Sets the article's cluster if it has none. Returns {'ok'} (set, or already that cluster), {'c',
-- cluster} when another ingest placed it first (the caller unites the two clusters), or {'x'} when the
-- article is gone or was replaced by another version (its member is a ghost: the caller removes it).

local fields = redis.call('HMGET', KEYS[1], 'm', 'c')
if fields[1] ~= ARGV[2] then return {'x'} end
if not fields[2] then
  redis.call('HSET', KEYS[1], 'c', ARGV[1])
  return {'ok'}
end
if fields[2] == ARGV[1] then return {'ok'} end
return {'c', fields[2]}
