-- insert_and_lookup: ARGV = ns, id, record (see record.rs), limit, the hour it was published in.
-- Returns {'u', record, canonical id} when the same content is stored already, else {'n', candidates,
-- heads} (see `lookup`).

local id, record = ARGV[2], ARGV[3]
local limit = tonumber(ARGV[4])
local key = article_key(id)

local existing = redis.call('GET', key)
if existing then
  if record_hash(existing) == record_hash(record) then
    local cid = record_cluster(existing)
    local canonical = cid and canonical_of(cid, id) or id
    return {'u', existing, canonical}
  end
  remove_article(id)
end

local numbered, number = number_record(record, id)
redis.call('SET', key, numbered)
-- the time index (expire.lua): the id, appended to its publication hour's list
if redis.call('RPUSH', time_key(ARGV[5]), id) == 1 then redis.call('ZADD', time_index_key(), ARGV[5], ARGV[5]) end
local found = lookup(post_all(record_bands(numbered), number), limit, number_value(number))
return {'n', found[1], found[2]}
