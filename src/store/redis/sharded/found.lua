-- found: KEYS[1] = the article's hash, KEYS[2] = the member zset of the cluster it founds (same hash
-- tag: a cluster id ends with its founder's tag); ARGV[1] = the new cluster id.
-- Returns {'x'} if the article is gone, {'c', cluster} if it was adopted meanwhile (nothing written),
-- else puts it in the new cluster and returns {'h', first member}.

local fields = redis.call('HMGET', KEYS[1], 'm', 'c')
if not fields[1] then return {'x'} end
if fields[2] then return {'c', fields[2]} end
redis.call('ZADD', KEYS[2], 0, fields[1])
redis.call('HSET', KEYS[1], 'c', ARGV[1])
return {'h', redis.call('ZRANGE', KEYS[2], 0, 0)[1]}
