-- pin (`Store::pin`): ARGV = ns, article id, its member (rank and id, as the caller read it). Pins the
-- article as its cluster's canonical: its member's score becomes -1 and every other member of the
-- cluster goes back to 0 (the zset orders by score, then bytewise, so the pinned member is first).
-- Returns false when the article is gone, another version, or unassigned, else {cluster, canonical}.

local id, member = ARGV[2], ARGV[3]
local record = redis.call('GET', article_key(id))
if not record or not member_matches(record, member) then return false end
local cid = record_cluster(record)
if not cid then return false end
-- a cluster of one gets a zset, so that the pin is kept when others join (`grow` in common.lua)
grow(cid)
local key = cluster_key(cid)
for _, other in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', '(0')) do
  redis.call('ZADD', key, 0, other)
end
redis.call('ZADD', key, 'XX', -1, record_member(record, id))
return {cid, first_member(cid)}
