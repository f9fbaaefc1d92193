-- Article numbers, shared by the scripts of both Redis backends (redis.rs and sharded.rs prepend it;
-- postings.lua, the posting buckets, follows it where a script posts or reads postings). The layout
-- is documented in redis.rs, the record in record.rs.

-- 1-based offset and width of the article number in a record's header
local NUMBER_AT = 51
local NUMBER_WIDTH = 5

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

-- The number whose 5 bytes start at byte `at` of `s`, as a Lua number (exact: 2^40 < 2^53). Posted
-- numbers are read and answered in this form (a cluster's `post` answers an array of integers):
-- unlike a 5-byte substring it allocates nothing, where a Lua string is an allocation, a hash and
-- later garbage, and a lookup at 1M articles meets ~240 numbers. A `perf` profile of Redis at 1M
-- stored had string creation, malloc and the Lua collector's sweep at a third of its time; reading
-- numbers this way took Redis CPU per article at 1M from 311 to 241 µs (the redis_memory bench, see
-- the README), with no change measurable at 100k, where a lookup meets ~40.
local function number_at(s, at)
  local a, b, c, d, e = string.byte(s, at, at + 4)
  return (((a * 256 + b) * 256 + c) * 256 + d) * 256 + e
end

-- The number whose 5 bytes are `bytes`, as a Lua number.
local function number_value(bytes) return number_at(bytes, 1) end

local function record_number(record) return string.sub(record, NUMBER_AT, NUMBER_AT + NUMBER_WIDTH - 1) end

local function with_number(record, number)
  return string.sub(record, 1, NUMBER_AT - 1) .. number .. string.sub(record, NUMBER_AT + NUMBER_WIDTH)
end

-- Deletes the number→id entry of a record removed from a Redis Cluster, whose numbers are
-- seq * 4096 + slot, under `hashes` (the prefix of the slot's number→id hashes, see sharded.rs).
local function forget_number(record, hashes)
  local seq = math.floor(number_value(record_number(record)) / 4096)
  redis.call('HDEL', hashes .. math.floor(seq / 64), seq % 64)
end
