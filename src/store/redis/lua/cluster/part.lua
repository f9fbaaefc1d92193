-- part: KEYS[1] = the member zset of the cluster a split is from, KEYS[2] = the set of clusters it is
-- kept apart from; ARGV[1] = the new cluster, then the members that moved. Last step of a split:
-- drops the moved members and keeps the old cluster apart from the new one. Returns its first member,
-- or '' when it is empty.

for i = 2, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
end
redis.call('SADD', KEYS[2], ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, 0)[1] or ''
