-- post: KEYS[1] = one band key's posting set; ARGV[1] = article id. Insert-then-look on one key:
-- of two articles posting here, the second to run sees the first. Returns every id posted here.

redis.call('SADD', KEYS[1], ARGV[1])
return redis.call('SMEMBERS', KEYS[1])
