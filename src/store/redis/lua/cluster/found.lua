-- found: KEYS[1] = the article's record, KEYS[2] = the member zset of the cluster it founds (same hash
-- tag: a cluster id ends with its founder's tag); ARGV = the new cluster id, the article's member.
-- Returns {'x'} if the article is gone or another version, {'c', cluster} if it was adopted meanwhile
-- (nothing written), else puts it in the new cluster and returns {'h', first member}.

local record = redis.call('GET', KEYS[1])
if not record or not member_matches(record, ARGV[2]) then return {'x'} end
local cid = record_cluster(record)
if cid then return {'c', cid} end
if #ARGV[1] ~= CLUSTER_WIDTH then return redis.error_reply('cluster id of unexpected width: ' .. ARGV[1]) end
redis.call('ZADD', KEYS[2], 0, ARGV[2])
redis.call('SETRANGE', KEYS[1], CLUSTER_AT - 1, ARGV[1])
return {'h', redis.call('ZRANGE', KEYS[2], 0, 0)[1]}
