-- move: KEYS[1] = an article's record; ARGV = its member, the cluster a split moves it to. Step two of a
-- split: points the record at the new cluster (in place). Returns {'ok'}, or {'x'} when the article
-- is gone or another version (its member is a ghost: the caller removes it).

local record = redis.call('GET', KEYS[1])
if not record or not member_matches(record, ARGV[1]) then return {'x'} end
if #ARGV[2] ~= CLUSTER_WIDTH then return redis.error_reply('cluster id of unexpected width: ' .. ARGV[2]) end
if record_cluster(record) ~= ARGV[2] then redis.call('SETRANGE', KEYS[1], CLUSTER_AT - 1, ARGV[2]) end
return {'ok'}
