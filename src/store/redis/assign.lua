-- assign: ARGV = ns, id, the id of a cluster it would found, links... Returns false when `id` does not
-- exist, else {cluster id, canonical id}.

local id, founded = ARGV[2], ARGV[3]
-- cluster ids are written into records in place: checked before anything is written
if #founded ~= CLUSTER_WIDTH then return redis.error_reply('cluster id of unexpected width: ' .. founded) end

local own = redis.call('GET', article_key(id))
if not own then return false end

-- the clusters to unite, and the articles (this one, unassigned links) that join them
local targets = {}
local seen = {}
local joining = {}
local function consider(article, cid)
  if not cid then
    joining[#joining + 1] = article
  elseif not seen[cid] then
    seen[cid] = true
    targets[#targets + 1] = cid
  end
end
local records = {}
records[id] = own
consider(id, record_cluster(own))
for i = 4, #ARGV do
  local link = ARGV[i]
  local record = redis.call('GET', article_key(link))
  -- a link that no longer exists is ignored
  if record then
    records[link] = record
    consider(link, record_cluster(record))
  end
end

-- the oldest (smallest) cluster survives
local survivor = founded
if #targets > 0 then
  survivor = targets[1]
  for _, cid in ipairs(targets) do
    if bytes_less(cid, survivor) then survivor = cid end
  end
end

local survivor_key = cluster_key(survivor)
local survivor_sources = forwarded_from_key(survivor)
for _, absorbed in ipairs(targets) do
  if absorbed ~= survivor then
    for _, member in ipairs(redis.call('ZRANGE', cluster_key(absorbed), 0, -1)) do
      redis.call('ZADD', survivor_key, 0, member)
      set_cluster(member_id(member), survivor)
    end
    redis.call('DEL', cluster_key(absorbed))
    -- clusters that forwarded to the absorbed one now forward to the survivor directly, so a
    -- forward is always one hop
    local absorbed_sources = forwarded_from_key(absorbed)
    for _, source in ipairs(redis.call('SMEMBERS', absorbed_sources)) do
      redis.call('SET', forward_key(source), survivor)
      redis.call('SADD', survivor_sources, source)
    end
    redis.call('DEL', absorbed_sources)
    redis.call('SET', forward_key(absorbed), survivor)
    redis.call('SADD', survivor_sources, absorbed)
  end
end

-- unassigned articles carry no cluster yet, so they only need adding (a repeated id is harmless)
for _, article in ipairs(joining) do
  redis.call('ZADD', survivor_key, 0, record_member(records[article], article))
  set_cluster(article, survivor)
end

return {survivor, canonical_id(survivor) or id}
