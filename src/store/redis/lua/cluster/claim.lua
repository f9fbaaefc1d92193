-- claim: KEYS[1] = an article's record; ARGV = the cluster it was added to, the member it was added as.
-- Sets the article's cluster if it has none. Returns {'ok'} (set, or already that cluster), {'c',
-- cluster} when another ingest placed it first (the caller unites the two clusters), or {'x'} when the
-- article is gone or was replaced by another version (its member is a ghost: the caller removes it).

local record = redis.call('GET', KEYS[1])
if not record or not member_matches(record, ARGV[2]) then return {'x'} end
local cid = record_cluster(record)
if not cid then
  if #ARGV[1] ~= CLUSTER_WIDTH then return redis.error_reply('cluster id of unexpected width: ' .. ARGV[1]) end
  redis.call('SETRANGE', KEYS[1], CLUSTER_AT - 1, ARGV[1])
  return {'ok'}
end
if cid == ARGV[1] then return {'ok'} end
return {'c', cid}
