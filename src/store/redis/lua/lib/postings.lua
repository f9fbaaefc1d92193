-- Posting buckets (see mod.rs), for the scripts that post or read postings. Follows numbers.lua.

-- a posting entry: the band key's last 2 bytes, then the number of the article posted under it
local ENTRY_WIDTH = 2 + NUMBER_WIDTH

-- Where `pattern` (a field, or a whole entry) next occurs at the start of an entry of `bucket`, from
-- byte `at` on; nil if nowhere. A plain find (C, not Lua) jumps to the places where its bytes occur;
-- only those at an entry's start count (elsewhere they straddle an entry boundary or sit inside a
-- number).
local function find_entry(bucket, pattern, at)
  while true do
    local hit = string.find(bucket, pattern, at, true)
    if not hit or (hit - 1) % ENTRY_WIDTH == 0 then return hit end
    at = hit + 1
  end
end

-- The oldest `cap` numbers posted under `field` in a bucket, oldest first, as Lua numbers
-- (`number_at`).
local function scan(bucket, field, cap)
  local out = {}
  local at = 1
  while #out < cap do
    local hit = find_entry(bucket, field, at)
    if not hit then break end
    out[#out + 1] = number_at(bucket, hit + 2)
    at = hit + ENTRY_WIDTH
  end
  return out
end

-- Insert-then-look on one band key, without I/O: the oldest `cap` numbers posted under `field` in
-- `bucket` once `number` (5 bytes) is posted there, and the bucket to write back (nil when
-- unchanged). A key already posted `cap` times is not extended: lookups never read past those, so a
-- posting stays bounded.
local function posted_into(bucket, field, number, cap)
  local out = scan(bucket, field, cap)
  local value = number_value(number)
  for _, other in ipairs(out) do
    if other == value then return out, nil end
  end
  if #out >= cap then return out, nil end
  out[#out + 1] = value
  return out, bucket .. field .. number
end

-- Buckets grow with the corpus. A bucket's key (its root) holds its entries itself until one write
-- leaves it with more than SPLIT_AT; then they move to 2^depth parts `ROOT:depth:i`, i being the top
-- `depth` bits of an entry's field, and the root holds only the depth, one byte (never a whole
-- number of entries, so a root is one or the other). A part that passes SPLIT_AT doubles its
-- root's parts. So a lookup or an insert reads at most SPLIT_AT entries per key (and one byte more
-- for a split root) however large the index. SPLIT_AT is above POSTINGS_READ_PER_KEY, the most
-- entries one field gets, so a bucket past it always holds two fields or more and a split can part
-- them; it is not lower because every part is a key, with Redis's overhead per key. A root keeps its
-- depth as articles leave, and goes once its last part does. Parts share their root's hash tag, so
-- on a cluster a split is one script in one slot.
local SPLIT_AT = 256
-- 4,096 parts a root at most: a split or an emptied part names them all in one call, and Lua's
-- `unpack` stops near 8,000.
local MAX_DEPTH = 12

-- The depth of a root's value (0: the root holds the entries).
local function root_depth(value)
  if #value == 1 then return string.byte(value) end
  return 0
end

local function part_key(root, depth, field)
  local high = math.floor((string.byte(field, 1) * 256 + string.byte(field, 2)) / 2 ^ (16 - depth))
  return root .. ':' .. depth .. ':' .. high
end

-- For each (root, field): the key holding the field's entries (`targets`), with every key's content
-- ('' when absent) in `contents`, shared by the fields of one key; and each root's depth. Two MGETs
-- at most: the roots, then the parts of the split ones.
local function resolve(roots, fields)
  local contents, depths, targets = {}, {}, {}
  local read = redis.call('MGET', unpack(roots))
  for i, root in ipairs(roots) do
    if contents[root] == nil then
      contents[root] = read[i] or ''
      depths[root] = root_depth(contents[root])
    end
  end
  local parts, seen = {}, {}
  for i, root in ipairs(roots) do
    local depth = depths[root]
    targets[i] = depth > 0 and part_key(root, depth, fields[i]) or root
    if depth > 0 and not seen[targets[i]] then
      seen[targets[i]] = true
      parts[#parts + 1] = targets[i]
    end
  end
  if #parts > 0 then
    local read_parts = redis.call('MGET', unpack(parts))
    for i, part in ipairs(parts) do contents[part] = read_parts[i] or '' end
  end
  return contents, depths, targets
end

-- The oldest `cap` numbers posted under each (root, field), without posting.
local function read_postings(roots, fields, cap)
  if #roots == 0 then return {} end
  local contents, _, targets = resolve(roots, fields)
  local lists = {}
  for i = 1, #roots do lists[i] = scan(contents[targets[i]], fields[i], cap) end
  return lists
end

-- The keys of a root's parts at `depth`.
local function parts_of(root, depth)
  local keys = {}
  for i = 0, 2 ^ depth - 1 do keys[#keys + 1] = root .. ':' .. depth .. ':' .. i end
  return keys
end

-- Moves `root`'s entries into 2^(depth + 1) parts, adding the writes to `writes` (key -> value,
-- false to delete). `contents` has what this script already changed.
local function split(root, depth, contents, writes)
  local buckets = {}
  if depth == 0 then
    buckets[1] = contents[root]
  else
    local old = parts_of(root, depth)
    local read = redis.call('MGET', unpack(old))
    for i, key in ipairs(old) do
      buckets[i] = contents[key] or read[i] or ''
      writes[key] = false
    end
  end
  local parts = {}
  for _, bucket in ipairs(buckets) do
    for at = 1, #bucket, ENTRY_WIDTH do
      local entry = string.sub(bucket, at, at + ENTRY_WIDTH - 1)
      local key = part_key(root, depth + 1, entry)
      local list = parts[key]
      if not list then
        list = {}
        parts[key] = list
      end
      list[#list + 1] = entry
    end
  end
  for key, list in pairs(parts) do writes[key] = table.concat(list) end
  writes[root] = string.char(depth + 1)
end

-- Posts `number` under every (root, field) and returns, per pair, the oldest `cap` numbers posted
-- there (insert-then-look). Two MGETs and one MSET whatever the number of pairs (each `redis.call`
-- has a cost of its own); a split adds a read of the old parts and their DEL. Two fields in one
-- bucket are updated in place between them and written once.
local function post_many(roots, fields, number, cap)
  if #roots == 0 then return {} end
  local contents, depths, targets = resolve(roots, fields)
  local changed, lists = {}, {}
  for i, root in ipairs(roots) do
    local target = targets[i]
    local out, written = posted_into(contents[target], fields[i], number, cap)
    if written then
      contents[target] = written
      changed[target] = root
    end
    lists[i] = out
  end
  local writes, grown = {}, {}
  for key, root in pairs(changed) do
    writes[key] = contents[key]
    if #contents[key] > SPLIT_AT * ENTRY_WIDTH and depths[root] < MAX_DEPTH then grown[root] = true end
  end
  for root in pairs(grown) do split(root, depths[root], contents, writes) end
  local sets, dels = {}, {}
  for key, value in pairs(writes) do
    if value then
      sets[#sets + 1] = key
      sets[#sets + 1] = value
    else
      dels[#dels + 1] = key
    end
  end
  if #dels > 0 then redis.call('DEL', unpack(dels)) end
  if #sets > 0 then redis.call('MSET', unpack(sets)) end
  return lists
end

-- Posts `number` under `field` in the bucket rooted at `key` and returns the oldest `cap` numbers
-- posted there, as Lua numbers (insert-then-look). One key at a time, as a cluster posts: a GET and
-- a SET while the root holds its entries (until the index is large, nearly always), `post_many`
-- otherwise. The short way matters because a cluster runs up to 24 of these per ingest, and
-- `post_many` costs more per call.
local function post_number(key, field, number, cap)
  local value = redis.call('GET', key) or ''
  if root_depth(value) == 0 then
    local out, written = posted_into(value, field, number, cap)
    if not written then return out end
    if #written <= SPLIT_AT * ENTRY_WIDTH then
      redis.call('SET', key, written)
      return out
    end
  end
  -- a split root, or one this posting splits: nothing is written yet
  return post_many({key}, {field}, number, cap)[1]
end

-- The oldest `cap` numbers posted under `field` in the bucket rooted at `key`.
local function read_number(key, field, cap)
  local value = redis.call('GET', key)
  if not value then return {} end
  if root_depth(value) == 0 then return scan(value, field, cap) end
  return read_postings({key}, {field}, cap)[1]
end

-- Removes the entry from the bucket at `key`; returns whether that emptied the bucket (and deleted
-- its key).
local function remove_entry(key, entry)
  local bucket = redis.call('GET', key)
  if not bucket then return false end
  local hit = find_entry(bucket, entry, 1)
  if not hit then return false end
  if #bucket == ENTRY_WIDTH then
    redis.call('DEL', key)
    return true
  end
  redis.call('SET', key, string.sub(bucket, 1, hit - 1) .. string.sub(bucket, hit + ENTRY_WIDTH))
  return false
end

-- Removes the posting of `number` under `field` from the bucket rooted at `root` (idempotent).
local function unpost_number(root, field, number)
  local value = redis.call('GET', root)
  if not value then return end
  local depth = root_depth(value)
  if depth == 0 then
    remove_entry(root, field .. number)
  elseif remove_entry(part_key(root, depth, field), field .. number) then
    if redis.call('EXISTS', unpack(parts_of(root, depth))) == 0 then redis.call('DEL', root) end
  end
end
