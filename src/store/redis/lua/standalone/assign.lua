-- assign: ARGV = ns, id, the id of a cluster it would found, links... Returns false when `id` does not
-- exist, else {cluster id, canonical id}.

local id, founded = ARGV[2], ARGV[3]
-- cluster ids are written into records in place, and name singleton entries: checked before anything
-- is written
local founded_bucket, founded_field = singleton_slot(founded)
if #founded ~= CLUSTER_WIDTH or not founded_bucket then
  return redis.error_reply('cluster id of unexpected form: ' .. founded)
end

local own = redis.call('GET', article_key(id))
if not own then return false end

-- the clusters to unite, and the articles (this one, unassigned links) that join them, each once
local targets = {}
local seen = {}
local joining = {}
local joined = {}
local function consider(article, cid)
  if not cid then
    if not joined[article] then
      joined[article] = true
      joining[#joining + 1] = article
    end
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

-- the common case: an article that links nothing founds a cluster of one, which gets a singleton
-- entry instead of a zset (see `singleton_slot` in common.lua)
if #targets == 0 and #joining == 1 then
  -- the founder's number, in decimal: listpack stores it as an integer
  redis.call('HSET', founded_bucket, founded_field, string.format('%.0f', number_value(record_number(own))))
  set_cluster(id, founded)
  return {founded, id}
end

-- the oldest (smallest) cluster survives
local survivor = founded
if #targets > 0 then
  survivor = targets[1]
  for _, cid in ipairs(targets) do
    if bytes_less(cid, survivor) then survivor = cid end
  end
end

-- from here on the survivor has a second member, unless nothing joins it (then this changes nothing)
if #targets > 1 or (#targets == 1 and #joining > 0) then grow(survivor) end

for _, absorbed in ipairs(targets) do
  if absorbed ~= survivor then merge_cluster(absorbed, survivor) end
end

-- unassigned articles carry no cluster yet, so they only need adding
for _, article in ipairs(joining) do
  redis.call('ZADD', cluster_key(survivor), 0, record_member(records[article], article))
  set_cluster(article, survivor)
end

-- `id` is a member of the survivor now, so without a zset it is the one member
return {survivor, canonical_of(survivor, id)}
