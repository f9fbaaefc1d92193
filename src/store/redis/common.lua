-- Shared by every dedupd script: prepended to each one (see redis.rs), so every script is one EVALSHA.
-- ARGV[1] is always the key namespace. The key layout is documented in redis.rs.

local ns = ARGV[1]

local function article_key(id) return ns .. ':a:' .. id end
local function posting_key(band) return ns .. ':p:' .. band end
local function cluster_key(cid) return ns .. ':c:' .. cid end
local function forward_key(cid) return ns .. ':f:' .. cid end
local function forwarded_from_key(cid) return ns .. ':r:' .. cid end

-- Width of a band key in the `k` field and of the rank prefix of a cluster member.
local BAND_WIDTH = 16
local RANK_WIDTH = 33

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

local function bands(concatenated)
  local out = {}
  for i = 1, #concatenated, BAND_WIDTH do
    out[#out + 1] = string.sub(concatenated, i, i + BAND_WIDTH - 1)
  end
  return out
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
  local fields = redis.call('HMGET', key, 'k', 'c', 'm')
  local keys, cid, member = fields[1], fields[2], fields[3]
  if not keys then return false, false end
  for _, band in ipairs(bands(keys)) do
    redis.call('SREM', posting_key(band), id)
  end
  redis.call('DEL', key)
  if not cid then return true, false end
  redis.call('ZREM', cluster_key(cid), member)
  return true, canonical_id(cid)
end

-- The up to `limit` articles posted under any of `band_list` (except `exclude`), most shared bands
-- first then id; each as {shared, blob, cluster or ''}, with {cluster, canonical blob} per cluster.
local function lookup(band_list, limit, exclude)
  local counts = {}
  local ids = {}
  for _, band in ipairs(band_list) do
    for _, id in ipairs(redis.call('SMEMBERS', posting_key(band))) do
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
    local fields = redis.call('HMGET', article_key(id), 'd', 'c')
    local blob, cid = fields[1], fields[2]
    if blob then
      candidates[#candidates + 1] = {counts[id], blob, cid or ''}
      if cid and not headed[cid] then
        headed[cid] = true
        local canonical = canonical_id(cid)
        local canonical_blob = canonical and redis.call('HGET', article_key(canonical), 'd')
        if canonical_blob then
          heads[#heads + 1] = {cid, canonical_blob}
        end
      end
    end
  end
  return {candidates, heads}
end
