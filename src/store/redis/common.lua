-- Shared by every dedupd script: prepended to each one (see redis.rs), so every script is one EVALSHA.
-- ARGV[1] is always the key namespace. The key layout is documented in redis.rs, the article record in
-- record.rs.

local ns = ARGV[1]

local function article_key(id) return ns .. ':a:' .. id end
local function cluster_key(cid) return ns .. ':c:' .. cid end
local function forward_key(cid) return ns .. ':f:' .. cid end
local function forwarded_from_key(cid) return ns .. ':r:' .. cid end
-- The time index (expire.lua): a list of ids per publication hour, the hours that have one, and the
-- edge: ids of the hour the cutoff falls in, ordered by time.
local function time_key(hour) return ns .. ':t:' .. hour end
local function time_index_key() return ns .. ':t' end
local function time_edge_key() return ns .. ':t:e' end

-- The record header (record.rs): cluster id (25 bytes, NUL while unassigned), content hash (8), tier
-- digit (1), published and ingested (8 each), band-key count (1), band keys (5 bytes each).
local CLUSTER_WIDTH = 25
local BAND_WIDTH = 5
-- Width of the rank prefix of a cluster member: tier digit and two 16-digit hex times.
local RANK_WIDTH = 33

local function hex(bytes)
  return (string.gsub(bytes, '.', function(c) return string.format('%02x', string.byte(c)) end))
end

local function record_cluster(record)
  if string.byte(record, 1) == 0 then return false end
  return string.sub(record, 1, CLUSTER_WIDTH)
end

local function record_hash(record) return string.sub(record, 26, 33) end

-- Published, as 8 bytes that compare bytewise as the time does.
local function record_published(record) return string.sub(record, 35, 42) end

-- The article's member in its cluster's zset: `TIER hex16(published) hex16(ingested) ID`.
local function record_member(record, id)
  return string.sub(record, 34, 34) .. hex(string.sub(record, 35, 42)) .. hex(string.sub(record, 43, 50)) .. id
end

local function split_bands(concatenated)
  local out = {}
  for i = 1, #concatenated, BAND_WIDTH do
    out[#out + 1] = string.sub(concatenated, i, i + BAND_WIDTH - 1)
  end
  return out
end

local function record_bands(record)
  local count = string.byte(record, 51)
  return split_bands(string.sub(record, 52, 51 + count * BAND_WIDTH))
end

-- Puts an assigned article's cluster id in its record (in place).
local function set_cluster(id, cid)
  local key = article_key(id)
  if redis.call('EXISTS', key) == 1 then redis.call('SETRANGE', key, 0, cid) end
end

-- Postings: band keys share bucket hashes, so that Redis keeps them in its compact listpack encoding
-- instead of one key each. A band key's first 3 bytes (tag and the value's top 16 bits) name the
-- bucket, its last 2 the field; the value is the posted ids, newline-separated (ids have no control
-- characters).
local function posting(band)
  return ns .. ':p:' .. hex(string.sub(band, 1, 3)), string.sub(band, 4, 5)
end

-- The oldest POSTINGS_READ_PER_KEY ids posted under `band` (POSTINGS_READ_PER_KEY and
-- MIN_SHARED_KEYS are defined before this file by redis.rs, from the Rust constants).
local function posted(band)
  local key, field = posting(band)
  local ids = redis.call('HGET', key, field)
  local out = {}
  if ids then
    for id in string.gmatch(ids, '[^\n]+') do
      if #out == POSTINGS_READ_PER_KEY then break end
      out[#out + 1] = id
    end
  end
  return out
end

-- Posts `id` under `band` and returns the oldest POSTINGS_READ_PER_KEY ids posted there
-- (insert-then-look, one read). A key already posted that many times is not extended: lookups would
-- never read past them, so the posting stays bounded.
local function post(band, id)
  local key, field = posting(band)
  local ids = redis.call('HGET', key, field)
  if not ids then
    redis.call('HSET', key, field, id)
    return {id}
  end
  local out = {}
  local present = false
  for other in string.gmatch(ids, '[^\n]+') do
    out[#out + 1] = other
    if other == id then present = true end
  end
  if not present and #out < POSTINGS_READ_PER_KEY then
    redis.call('HSET', key, field, ids .. '\n' .. id)
    out[#out + 1] = id
  end
  while #out > POSTINGS_READ_PER_KEY do out[#out] = nil end
  return out
end

local function unpost(band, id)
  local key, field = posting(band)
  local ids = redis.call('HGET', key, field)
  if not ids then return end
  local kept = {}
  for other in string.gmatch(ids, '[^\n]+') do
    if other ~= id then kept[#kept + 1] = other end
  end
  if #kept == 0 then
    redis.call('HDEL', key, field)
  else
    redis.call('HSET', key, field, table.concat(kept, '\n'))
  end
end

-- Byte order, as Rust compares strings. Lua's `<` uses strcoll, and redis-server sets LC_COLLATE from
-- its environment, so `<` could order ids differently from the other stores.
local function bytes_less(a, b)
  if a == b then return false end
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local function member_id(member) return string.sub(member, RANK_WIDTH + 1) end

-- The canonical's id: the first member in (tier, published, ingested, id) order, which is the zset's
-- lexicographic order because every score is 0.
local function canonical_id(cid)
  local first = redis.call('ZRANGE', cluster_key(cid), 0, 0)
  if #first == 0 then return false end
  return member_id(first[1])
end

-- Removes an article, its postings and its cluster membership. Returns whether it existed and its
-- cluster's canonical afterwards (false if unassigned or the cluster is now empty).
local function remove_article(id)
  local key = article_key(id)
  local record = redis.call('GET', key)
  if not record then return false, false end
  for _, band in ipairs(record_bands(record)) do
    unpost(band, id)
  end
  redis.call('DEL', key)
  local cid = record_cluster(record)
  if not cid then return true, false end
  redis.call('ZREM', cluster_key(cid), record_member(record, id))
  return true, canonical_id(cid)
end

-- The up to `limit` articles among `lists` (the ids posted under each looked-up band key), except
-- `exclude`, that share at least MIN_SHARED_KEYS bands, most shared first then id; each as {shared,
-- record}, with {cluster, canonical record} per cluster.
local function lookup(lists, limit, exclude)
  local counts = {}
  local ids = {}
  for _, list in ipairs(lists) do
    for _, id in ipairs(list) do
      if id ~= exclude then
        local seen = counts[id]
        if seen then
          counts[id] = seen + 1
        else
          counts[id] = 1
          ids[#ids + 1] = id
        end
      end
    end
  end
  local kept = {}
  for _, id in ipairs(ids) do
    if counts[id] >= MIN_SHARED_KEYS then kept[#kept + 1] = id end
  end
  ids = kept
  table.sort(ids, function(a, b)
    local ca, cb = counts[a], counts[b]
    if ca ~= cb then return ca > cb end
    return bytes_less(a, b)
  end)
  local candidates = {}
  local heads = {}
  local headed = {}
  for i = 1, math.min(limit, #ids) do
    local id = ids[i]
    local record = redis.call('GET', article_key(id))
    if record then
      candidates[#candidates + 1] = {counts[id], record}
      local cid = record_cluster(record)
      if cid and not headed[cid] then
        headed[cid] = true
        local canonical = canonical_id(cid)
        local canonical_record = canonical and redis.call('GET', article_key(canonical))
        if canonical_record then
          heads[#heads + 1] = {cid, canonical_record}
        end
      end
    end
  end
  return {candidates, heads}
end
