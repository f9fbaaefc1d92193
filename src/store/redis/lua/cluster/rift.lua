-- rift: KEYS[1] = the member zset of a cluster a split makes, KEYS[2] = its forward, KEYS[3] = the set
-- of clusters it is kept apart from; ARGV[1] = the cluster split from, then pairs of a score and a
-- member that move. Step one of a split (cluster/verdicts.rs): lists the members moving and keeps the
-- new cluster apart from the old one. Returns every member of the new cluster with its score
-- (flattened), what the later steps move: a retry with no members finishes a split cut short.

if redis.call('EXISTS', KEYS[2]) == 1 then return redis.error_reply('split into a cluster merged away') end
for i = 2, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], 'LT', ARGV[i], ARGV[i + 1])
end
redis.call('SADD', KEYS[3], ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
