-- Article numbers and posting buckets, shared by the scripts of both Redis backends (redis.rs and
-- sharded.rs prepend it). The layout is documented in redis.rs, the record in record.rs.

-- 1-based offset and width of the article number in a record's header
local NUMBER_AT = 51
local NUMBER_WIDTH = 5
-- a posting entry: the band key's last 2 bytes, then the number of the article posted under it
local ENTRY_WIDTH = 2 + NUMBER_WIDTH

-- Numbers are never reused: 2^40 of them per namespace (on a cluster, 2^28 per slot). Past that a
-- number would wrap onto an older article's, so the script stops instead.
local NUMBERS_END = 2 ^ (8 * NUMBER_WIDTH)

local function number_bytes(n)
  if n >= NUMBERS_END then error('dedupd: article numbers of this namespace are used up') end
  local out = {}
  for i = NUMBER_WIDTH, 1, -1 do
    out[i] = n % 256
    n = math.floor(n / 256)
  end
  return string.char(unpack(out))
end

local function number_value(bytes)
  local n = 0
  for i = 1, NUMBER_WIDTH do n = n * 256 + string.byte(bytes, i) end
  return n
end

local function record_number(record) return string.sub(record, NUMBER_AT, NUMBER_AT + NUMBER_WIDTH - 1) end

local function with_number(record, number)
  return string.sub(record, 1, NUMBER_AT - 1) .. number .. string.sub(record, NUMBER_AT + NUMBER_WIDTH)
end

-- The oldest `cap` numbers posted under `field` in a bucket, oldest first. A plain find (C, not Lua)
-- jumps to the places where the field's two bytes occur; only those at an entry's start count.
local function scan(bucket, field, cap)
  local out = {}
  local at = 1
  while #out < cap do
    local hit = string.find(bucket, field, at, true)
    if not hit then break end
    if (hit - 1) % ENTRY_WIDTH == 0 then
      out[#out + 1] = string.sub(bucket, hit + 2, hit + ENTRY_WIDTH - 1)
      at = hit + ENTRY_WIDTH
    else
      -- the two bytes straddle an entry boundary or sit inside a number
      at = hit + 1
    end
  end
  return out
end

-- Insert-then-look on one band key, without I/O: the oldest `cap` numbers posted under `field` in
-- `bucket` once `number` is posted there, and the bucket to write back (nil when unchanged). A key
-- already posted `cap` times is not extended: lookups never read past those, so a posting stays
-- bounded.
local function posted_into(bucket, field, number, cap)
  local out = scan(bucket, field, cap)
  for _, other in ipairs(out) do
    if other == number then return out, nil end
  end
  if #out >= cap then return out, nil end
  out[#out + 1] = number
  return out, bucket .. field .. number
end

-- Posts `number` under `field` in the bucket at `key` and returns the oldest `cap` numbers posted
-- there (insert-then-look, one read). The bucket is rewritten whole rather than APPENDed to, because
-- APPEND leaves as much free space again behind a string it grows.
local function post_number(key, field, number, cap)
  local out, written = posted_into(redis.call('GET', key) or '', field, number, cap)
  if written then redis.call('SET', key, written) end
  return out
end

-- Removes the posting of `number` under `field` from the bucket at `key` (idempotent).
local function unpost_number(key, field, number)
  local bucket = redis.call('GET', key)
  if not bucket then return end
  local entry = field .. number
  local at = 1
  while true do
    local hit = string.find(bucket, entry, at, true)
    if not hit then return end
    if (hit - 1) % ENTRY_WIDTH == 0 then
      if #bucket == ENTRY_WIDTH then
        redis.call('DEL', key)
      else
        redis.call('SET', key, string.sub(bucket, 1, hit - 1) .. string.sub(bucket, hit + ENTRY_WIDTH))
      end
      return
    end
    at = hit + 1
  end
end

-- Deletes the number→id entry of a record removed from a Redis Cluster, whose numbers are
-- seq * 4096 + slot, under `hashes` (the prefix of the slot's number→id hashes, see sharded.rs).
local function forget_number(record, hashes)
  local seq = math.floor(number_value(record_number(record)) / 4096)
  redis.call('HDEL', hashes .. math.floor(seq / 64), seq % 64)
end
