-- add: KEYS[1] = a cluster's member zset, KEYS[2] = its forward; ARGV = members to add.
-- A cluster merged away takes no members: returns {'f', survivor} and writes nothing (the caller
-- follows the forward). Else adds them (adding a member twice is harmless) and returns {'h', first
-- member}.

local into = redis.call('GET', KEYS[2])
if into then return {'f', into} end
for i = 1, #ARGV do
  redis.call('ZADD', KEYS[1], 0, ARGV[i])
end
return {'h', redis.call('ZRANGE', KEYS[1], 0, 0)[1]}
