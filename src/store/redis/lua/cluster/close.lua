-- close: KEYS[1] = the member zset of a cluster being merged away, KEYS[2] = its forward, KEYS[3] = the
-- set of clusters it is kept apart from; ARGV[1] = the survivor. Step one of a merge: from now on the
-- cluster takes no members and resolves to the survivor. Returns {'m', members and their scores
-- (flattened: member, score, ...), the clusters it is kept apart from} to move (again, when retried
-- with the same survivor), or {'f', other} if it was merged into another cluster first (the caller
-- resolves and tries again).

local into = redis.call('GET', KEYS[2])
if into and into ~= ARGV[1] then return {'f', into} end
redis.call('SET', KEYS[2], ARGV[1])
return {'m', redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'), redis.call('SMEMBERS', KEYS[3])}
