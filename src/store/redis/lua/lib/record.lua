-- An article record's header (record.rs), for the scripts that read or write records. The offsets and
-- widths come from the prelude, which the loader generates from record.rs (mod.rs, `script`).

-- One string.format over every byte rather than a gsub calling a Lua function per byte: an insert
-- names 24 buckets.
local function hex(bytes)
  if #bytes == 0 then return '' end
  return string.format(string.rep('%02x', #bytes), string.byte(bytes, 1, -1))
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

-- The cluster the record names, or false while the article is unassigned.
local function record_cluster(record)
  if string.byte(record, CLUSTER_AT) == 0 then return false end
  return string.sub(record, CLUSTER_AT, CLUSTER_AT + CLUSTER_WIDTH - 1)
end

local function record_hash(record) return string.sub(record, HASH_AT, HASH_AT + HASH_WIDTH - 1) end

-- Published, as 8 bytes that compare bytewise as the time does.
local function record_published(record) return string.sub(record, PUBLISHED_AT, PUBLISHED_AT + TIME_WIDTH - 1) end

-- The rank a cluster member starts with: `TIER hex16(published) hex16(ingested)`, RANK_WIDTH bytes.
local function record_rank(record)
  return string.sub(record, TIER_AT, TIER_AT)
    .. hex(string.sub(record, PUBLISHED_AT, PUBLISHED_AT + TIME_WIDTH - 1))
    .. hex(string.sub(record, INGESTED_AT, INGESTED_AT + TIME_WIDTH - 1))
end

-- The article's member in its cluster's zset: its rank, then its id.
local function record_member(record, id) return record_rank(record) .. id end

-- Whether `member` has this record's rank: the same version of the article, not another one stored
-- since under the same id.
local function member_matches(record, member)
  local rank = record_rank(record)
  return string.sub(member, 1, #rank) == rank
end

local function member_id(member) return string.sub(member, RANK_WIDTH + 1) end

-- The article's number, as its NUMBER_WIDTH bytes.
local function record_number(record) return string.sub(record, NUMBER_AT, NUMBER_AT + NUMBER_WIDTH - 1) end

local function with_number(record, number)
  return string.sub(record, 1, NUMBER_AT - 1) .. number .. string.sub(record, NUMBER_AT + NUMBER_WIDTH)
end

-- Band keys concatenated (as a record and a lookup's argument hold them), one string each.
local function split_bands(concatenated)
  local out = {}
  for i = 1, #concatenated, BAND_WIDTH do
    out[#out + 1] = string.sub(concatenated, i, i + BAND_WIDTH - 1)
  end
  return out
end

local function record_bands(record)
  local count = string.byte(record, BANDS_AT)
  return split_bands(string.sub(record, BANDS_AT + 1, BANDS_AT + count * BAND_WIDTH))
end
