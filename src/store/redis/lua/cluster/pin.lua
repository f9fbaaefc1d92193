-- pin: KEYS[1] = a cluster's member zset, KEYS[2] = its forward; ARGV[1] = the member to pin. Gives it
-- score -1 and every other member 0 (the zset orders by score first, so the pinned member is first).
-- Returns {'f', survivor} for a cluster merged away (nothing written: the caller follows it), {'x'}
-- when the member is not in the cluster, else {'h', first member}.

local into = redis.call('GET', KEYS[2])
if into then return {'f', into} end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {'x'} end
for _, other in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(0')) do
  redis.call('ZADD', KEYS[1], 0, other)
end
redis.call('ZADD', KEYS[1], -1, ARGV[1])
return {'h', redis.call('ZRANGE', KEYS[1], 0, 0)[1]}
