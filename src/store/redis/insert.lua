-- insert_and_lookup: ARGV = ns, id, content hash, blob, band keys (concatenated), member, limit.
-- Returns {'u', blob, cluster or '', canonical id} when the same content is stored already, else
-- {'n', candidates, heads} (see `lookup`).

local id, hash, blob, keys, member = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local limit = tonumber(ARGV[7])
local key = article_key(id)

local existing = redis.call('HMGET', key, 'h', 'd', 'c')
if existing[1] then
  if existing[1] == hash then
    local cid = existing[3]
    local canonical = cid and canonical_id(cid) or id
    return {'u', existing[2], cid or '', canonical}
  end
  remove_article(id)
end

redis.call('HSET', key, 'd', blob, 'h', hash, 'k', keys, 'm', member)
local band_list = bands(keys)
for _, band in ipairs(band_list) do
  redis.call('SADD', posting_key(band), id)
end
local found = lookup(band_list, limit, id)
return {'n', found[1], found[2]}
