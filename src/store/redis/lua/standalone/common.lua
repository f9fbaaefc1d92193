-- Shared by the standalone scripts, after the libraries (`lua/lib`): key names, the singleton index,
-- removal and lookup. ARGV[1] is always the key namespace; the key layout is in standalone.rs.

local ns = ARGV[1]

local function article_key(id) return ns .. ':a:' .. id end
local function cluster_key(cid) return ns .. ':c:' .. cid end
-- The singleton index (see `singleton_slot` below): hashes of clusters that have one member and no zset.
local function singletons_key(bucket) return ns .. ':s:' .. bucket end
local function forward_key(cid) return ns .. ':f:' .. cid end
local function forwarded_from_key(cid) return ns .. ':r:' .. cid end
-- The time index (expire.lua): a list of ids per publication hour, the hours that have one, and the
-- edge: ids of the hour the cutoff falls in, ordered by time.
local function time_key(hour) return ns .. ':t:' .. hour end
local function time_index_key() return ns .. ':t' end
local function time_edge_key() return ns .. ':t:e' end
-- The article's kept text (keep.lua), removed with its record.
local function text_key(id) return ns .. ':b:' .. id end

-- Puts an assigned article's cluster id in its record (in place).
local function set_cluster(id, cid)
  local key = article_key(id)
  if redis.call('EXISTS', key) == 1 then redis.call('SETRANGE', key, CLUSTER_AT - 1, cid) end
end

-- Article numbers: `ns:n` counts the numbers given out (never reused); `ns:i:HIGH` is a hash from the
-- number's position among NUMBERS_PER_HASH to the id, HIGH being the rest (see mod.rs).
local function number_slot(n)
  return ns .. ':i:' .. math.floor(n / NUMBERS_PER_HASH), n % NUMBERS_PER_HASH
end

-- Gives the record a new number, maps the number to the id, and returns the numbered record.
local function number_record(record, id)
  local n = redis.call('INCR', ns .. ':n')
  local number = number_bytes(n)
  local key, field = number_slot(n)
  redis.call('HSET', key, field, id)
  return with_number(record, number), number
end

-- The id numbered `n` (a Lua number), or false.
local function numbered_id(n)
  local key, field = number_slot(n)
  return redis.call('HGET', key, field)
end

-- Forgets the id of the number whose 5 bytes are `number`.
local function unnumber(number)
  local key, field = number_slot(number_value(number))
  redis.call('HDEL', key, field)
end

-- Postings: a band key's first 3 bytes (tag and the value's top 16 bits) name a bucket's root, and
-- its last 2 its field there (postings.lua, which also splits buckets as they grow). The root carries
-- its name as a hash tag, which standalone Redis ignores and the cluster backend needs.
local function posting(band)
  return ns .. ':p:{' .. hex(string.sub(band, 1, 3)) .. '}', string.sub(band, 4, 5)
end

local function postings_of(bands)
  local keys, fields = {}, {}
  for i, band in ipairs(bands) do keys[i], fields[i] = posting(band) end
  return keys, fields
end

-- The oldest POSTINGS_READ_PER_KEY numbers posted under each band of `bands`.
local function posted_all(bands)
  local keys, fields = postings_of(bands)
  return read_postings(keys, fields, POSTINGS_READ_PER_KEY)
end

-- Posts `number` under every band of `bands` and returns, per band, the oldest
-- POSTINGS_READ_PER_KEY numbers posted there (insert-then-look, `post_many` in postings.lua).
local function post_all(bands, number)
  local keys, fields = postings_of(bands)
  return post_many(keys, fields, number, POSTINGS_READ_PER_KEY)
end

local function unpost(band, number)
  local key, field = posting(band)
  unpost_number(key, field, number)
end

-- Clusters of one member (the singleton index, see standalone.rs). Most articles are never copied, so
-- most clusters have one member, and a zset of one is costly: a cluster gets its zset (`ns:c:CID`)
-- only once a second member joins. Until then it is an entry of `ns:s:BUCKET`, a hash from the
-- cluster id to its founder's article number. The invariant every reader relies on: an article whose
-- record names cluster CID is in CID's zset, or CID has no zset and the article is its one member,
-- named by CID's singleton entry. A zset, once made, is kept while it has members, even one: dropping
-- back would be a second path to get right, for a little memory on the rare cluster that shrinks.
--
-- BUCKET is the low 15 bits of the cluster id's tag (the last 8 hex digits, `xxh3(founder)`, see
-- `ClusterId::new`), in decimal: 32,768 buckets stay under the 512 fields a hash keeps in the compact
-- listpack encoding by default (`hash-max-listpack-entries`) up to ~10M singletons. The field is the
-- id without the dash and its last 3 hex digits, which the bucket implies: 21 bytes instead of 25.
local SINGLETON_BUCKETS = 32768

-- The bucket key and field of cluster `cid`'s singleton entry; nothing for a string that is no
-- cluster id (GetCluster passes the client's).
local function singleton_slot(cid)
  -- what `ClusterId::new` writes: 16 and 8 lowercase hex digits
  if #cid ~= CLUSTER_WIDTH or string.byte(cid, 17) ~= 45 or not string.find(cid, '^[0-9a-f]+%-[0-9a-f]+$') then
    return nil
  end
  local low = tonumber(string.sub(cid, -4), 16)
  return singletons_key(low % SINGLETON_BUCKETS), string.sub(cid, 1, 16) .. string.sub(cid, 18, 22)
end

local function remove_singleton(cid)
  local key, field = singleton_slot(cid)
  if key then redis.call('HDEL', key, field) end
end

-- The one member of cluster `cid` while it has no zset: its id and record, or false. The entry is
-- checked against the record it leads to (same number, same cluster), though the scripts never leave
-- a stale one: a mistake here would hand out another article as a cluster's member.
local function singleton_member(cid)
  local key, field = singleton_slot(cid)
  if not key then return false end
  local stored = redis.call('HGET', key, field)
  local n = stored and tonumber(stored)
  if not n or n < 0 or n >= NUMBERS_END or n ~= math.floor(n) then return false end
  local id = numbered_id(n)
  local record = id and redis.call('GET', article_key(id))
  if not record or number_at(record, NUMBER_AT) ~= n or record_cluster(record) ~= cid then return false end
  return id, record
end

-- The id of the first member of cluster `cid`'s zset, or false when it has none.
local function first_member(cid)
  local first = redis.call('ZRANGE', cluster_key(cid), 0, 0)
  if #first == 0 then return false end
  return member_id(first[1])
end

-- The canonical's id of cluster `cid`, of which article `id` is known to be a member (its record
-- names `cid`): the first member in (tier, published, ingested, id) order, which is the zset's
-- lexicographic order because every score is 0; without a zset, `id` is the one member, so the
-- singleton entry need not be read.
local function canonical_of(cid, id)
  return first_member(cid) or id
end

-- Gives cluster `cid` a zset (if it has none yet, its singleton entry moves into one) before members
-- join it.
local function grow(cid)
  local founder, record = singleton_member(cid)
  if founder then
    redis.call('ZADD', cluster_key(cid), 0, record_member(record, founder))
    remove_singleton(cid)
  end
end

-- Empties cluster `cid` (zset or singleton entry) for a merge, and returns its members as zset
-- members, in canonical order, each followed by its score (-1 for a pinned member, else 0).
local function take_members(cid)
  local key = cluster_key(cid)
  local members = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  if #members > 0 then
    redis.call('DEL', key)
    return members
  end
  local founder, record = singleton_member(cid)
  -- dropped even if it did not check out: the cluster is merged away either way
  remove_singleton(cid)
  if not founder then return {} end
  return {record_member(record, founder), 0}
end

-- The live cluster `cid` resolves to. Merges rewrite every forward to point at the survivor, so one
-- hop is enough; the bound only guards against a cycle that a bug or a hand edit could create.
local function resolve(cid)
  for _ = 1, 8 do
    local into = redis.call('GET', forward_key(cid))
    if not into then break end
    cid = into
  end
  return cid
end

-- Clusters kept apart (`ns:x:CID`, a set of the cluster ids `cid` is kept apart from, as recorded:
-- readers resolve them). A merge passes the absorbed cluster's apartness on to the survivor.
local function apart_key(cid) return ns .. ':x:' .. cid end

-- Merges cluster `absorbed` into `survivor` (whose zset exists already, see `grow`): members move
-- with their scores (pins), every forward to `absorbed` is rewritten to the survivor (so a forward is
-- always one hop), and the survivor is kept apart from whatever `absorbed` was.
local function merge_cluster(absorbed, survivor)
  local survivor_key = cluster_key(survivor)
  local survivor_sources = forwarded_from_key(survivor)
  local members = take_members(absorbed)
  for i = 1, #members, 2 do
    redis.call('ZADD', survivor_key, members[i + 1], members[i])
    set_cluster(member_id(members[i]), survivor)
  end
  local absorbed_sources = forwarded_from_key(absorbed)
  for _, source in ipairs(redis.call('SMEMBERS', absorbed_sources)) do
    redis.call('SET', forward_key(source), survivor)
    redis.call('SADD', survivor_sources, source)
  end
  redis.call('DEL', absorbed_sources)
  redis.call('SET', forward_key(absorbed), survivor)
  redis.call('SADD', survivor_sources, absorbed)
  for _, partner in ipairs(redis.call('SMEMBERS', apart_key(absorbed))) do
    redis.call('SADD', apart_key(survivor), partner)
    redis.call('SADD', apart_key(partner), survivor)
  end
end

-- Whether live clusters `a` and `b` are kept apart.
local function is_apart(a, b)
  for _, partner in ipairs(redis.call('SMEMBERS', apart_key(a))) do
    if resolve(partner) == b then return true end
  end
  return false
end

-- Whether cluster `cid` (live) has a member: a zset, or a singleton entry.
local function has_members(cid)
  if redis.call('EXISTS', cluster_key(cid)) == 1 then return true end
  return singleton_member(cid) and true or false
end

-- Removes an article, its postings and its cluster membership. Returns whether it existed and its
-- cluster's canonical afterwards (false if unassigned or the cluster is now empty).
local function remove_article(id)
  local key = article_key(id)
  local record = redis.call('GET', key)
  if not record then return false, false end
  local number = record_number(record)
  for _, band in ipairs(record_bands(record)) do
    unpost(band, number)
  end
  unnumber(number)
  redis.call('DEL', key, text_key(id))
  local cid = record_cluster(record)
  if not cid then return true, false end
  if redis.call('ZREM', cluster_key(cid), record_member(record, id)) == 0 then
    -- in no zset: the cluster's one member (see `singleton_slot`), so the cluster is now empty
    remove_singleton(cid)
    return true, false
  end
  return true, first_member(cid)
end

-- The up to `limit` articles among `lists` (the numbers posted under each looked-up band key, as Lua
-- numbers), except the number `exclude` (also a Lua number), that share at least MIN_SHARED_KEYS
-- bands, most shared first then id; each as {shared, record}, with {cluster, canonical record} per
-- cluster.
local function lookup(lists, limit, exclude)
  local counts = {}
  local numbers = {}
  for _, list in ipairs(lists) do
    for _, number in ipairs(list) do
      if number ~= exclude then
        local seen = counts[number]
        if seen then
          counts[number] = seen + 1
        else
          counts[number] = 1
          numbers[#numbers + 1] = number
        end
      end
    end
  end
  local kept = {}
  for _, number in ipairs(numbers) do
    if counts[number] >= MIN_SHARED_KEYS then kept[#kept + 1] = number end
  end
  -- only the most shared can make the cut; ties at the cut are broken by id, which only the records
  -- know, so every article tied with the last one kept is read
  if #kept > limit then
    table.sort(kept, function(a, b) return counts[a] > counts[b] end)
    local cut = limit > 0 and counts[kept[limit]] or math.huge
    local within = {}
    for _, number in ipairs(kept) do
      if counts[number] >= cut then within[#within + 1] = number end
    end
    kept = within
  end
  local found = {}
  for _, number in ipairs(kept) do
    local id = numbered_id(number)
    local record = id and redis.call('GET', article_key(id))
    if record and number_at(record, NUMBER_AT) == number then
      found[#found + 1] = {counts[number], id, record}
    end
  end
  table.sort(found, function(a, b)
    if a[1] ~= b[1] then return a[1] > b[1] end
    return bytes_less(a[2], b[2])
  end)
  local candidates = {}
  local heads = {}
  local headed = {}
  for i = 1, math.min(limit, #found) do
    local record = found[i][3]
    candidates[#candidates + 1] = {found[i][1], record}
    local cid = record_cluster(record)
    if cid and not headed[cid] then
      headed[cid] = true
      local canonical = canonical_of(cid, found[i][2])
      -- a cluster without a zset is this candidate alone: its record is in hand
      local canonical_record = canonical == found[i][2] and record or redis.call('GET', article_key(canonical))
      if canonical_record then
        heads[#heads + 1] = {cid, canonical_record}
      end
    end
  end
  return {candidates, heads}
end
