-- Article numbers (see mod.rs): postings hold a NUMBER_WIDTH-byte number per article instead of its id.

-- Numbers are never reused: 2^40 of them per namespace (on a cluster, 2^40 / SLOTS per slot). Past
-- that a number would wrap onto an older article's, so the script stops instead.
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

-- The number whose 5 bytes (NUMBER_WIDTH) start at byte `at` of `s`, as a Lua number (exact: 2^40 <
-- 2^53). Posted numbers are read and answered in this form (a cluster's `post` answers an array of
-- integers): unlike a substring it allocates nothing, where a Lua string is an allocation, a hash and
-- later garbage, and a lookup meets hundreds of numbers in a large index.
local function number_at(s, at)
  local a, b, c, d, e = string.byte(s, at, at + 4)
  return (((a * 256 + b) * 256 + c) * 256 + d) * 256 + e
end

-- The number whose bytes are `bytes`, as a Lua number.
local function number_value(bytes) return number_at(bytes, 1) end

-- Deletes the number→id entry of `number` (its bytes) on a Redis Cluster, whose numbers are
-- seq * SLOTS + slot, under `hashes` (the prefix of the slot's number→id hashes, see cluster/mod.rs).
local function forget_number(number, hashes)
  local seq = math.floor(number_value(number) / SLOTS)
  redis.call('HDEL', hashes .. math.floor(seq / NUMBERS_PER_HASH), seq % NUMBERS_PER_HASH)
end
