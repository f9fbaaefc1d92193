-- members (`Store::cluster`): ARGV = ns, cluster id. Returns false for an unknown or empty cluster, else
-- {resolved cluster id, {record, ...}} with members in canonical order.

local cid = resolve(ARGV[2])

local members = {}
for _, member in ipairs(redis.call('ZRANGE', cluster_key(cid), 0, -1)) do
  local record = redis.call('GET', article_key(member_id(member)))
  if record then
    members[#members + 1] = record
  end
end
if #members == 0 then
  -- no zset: a cluster of one, if any (see `singleton_slot` in common.lua)
  local _, record = singleton_member(cid)
  if record then members[1] = record end
end
if #members == 0 then return false end
return {cid, members}
