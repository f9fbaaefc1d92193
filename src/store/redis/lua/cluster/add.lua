-- add: KEYS[1] = a cluster's member zset, KEYS[2] = its forward; ARGV = pairs of a score and a member
-- to add (score -1 for a pinned member, else 0). A cluster merged away takes no members: returns {'f',
-- survivor} and writes nothing (the caller follows the forward). Else adds them (adding a member
-- twice is harmless; `LT` lets a pin in but never takes one away) and returns {'h', first member}.

local into = redis.call('GET', KEYS[2])
if into then return {'f', into} end
for i = 1, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], 'LT', ARGV[i], ARGV[i + 1])
end
return {'h', redis.call('ZRANGE', KEYS[1], 0, 0)[1]}
