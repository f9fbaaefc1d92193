-- split (`Store::split`): ARGV = ns, the cluster split from, the new cluster, ids of the articles to
-- move. Moves each article still in the (live) cluster split from into the new one, with its score
-- (a pin goes with it), and keeps the two clusters apart. Returns {'nf'} when the cluster split from
-- has no member, else {'ok', from (live), its canonical or false, into, its canonical or false}.

local from, into = resolve(ARGV[2]), ARGV[3]
if #into ~= CLUSTER_WIDTH or not singleton_slot(into) then
  return redis.error_reply('cluster id of unexpected form: ' .. into)
end
if from == into then return redis.error_reply('split of a cluster into itself: ' .. from) end
if not has_members(from) then return {'nf'} end
-- a cluster of one has no zset yet; it needs one to be split (`grow` in common.lua)
grow(from)

local from_key, into_key = cluster_key(from), cluster_key(into)
for i = 4, #ARGV do
  local id = ARGV[i]
  local record = redis.call('GET', article_key(id))
  if record and record_cluster(record) == from then
    local member = record_member(record, id)
    local score = redis.call('ZSCORE', from_key, member)
    if score then
      redis.call('ZREM', from_key, member)
      redis.call('ZADD', into_key, score, member)
      set_cluster(id, into)
    end
  end
end
redis.call('SADD', apart_key(from), into)
redis.call('SADD', apart_key(into), from)
return {'ok', from, first_member(from), into, first_member(into)}
