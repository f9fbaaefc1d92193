-- head: KEYS[1] = a cluster's member zset, KEYS[2] = its forward. Read-only.
-- Returns {'f', survivor, members still to move} for a cluster merged away, else {'h', first member
-- or ''} (the canonical: every score is 0, so the first member in byte order).

local into = redis.call('GET', KEYS[2])
if into then return {'f', into, redis.call('ZCARD', KEYS[1])} end
return {'h', redis.call('ZRANGE', KEYS[1], 0, 0)[1] or ''}
