-- The duplicate feed's oldest and newest ids and the largest id trimmed (false for each missing).
--
-- KEYS: the stream, the largest trimmed id (one slot)
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local oldest, newest = false, false
if first[1] then
  oldest = first[1][1]
end
if last[1] then
  newest = last[1][1]
end
return {oldest, newest, redis.call('GET', KEYS[2])}
