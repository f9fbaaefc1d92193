-- Prepended to the scripts that read an article record (see sharded.rs and record.rs).

-- The record header: cluster id (25 bytes, NUL while unassigned), content hash (8), tier digit (1),
-- published and ingested (8 each), band-key count (1), band keys (5 bytes each).
local CLUSTER_WIDTH = 25

local function record_cluster(record)
  if string.byte(record, 1) == 0 then return false end
  return string.sub(record, 1, CLUSTER_WIDTH)
end

-- One string.format over every byte: a gsub calling a Lua function per byte cost ~1 µs a byte, and
-- an insert names 24 buckets.
local function hex(bytes)
  if #bytes == 0 then return '' end
  return string.format(string.rep('%02x', #bytes), string.byte(bytes, 1, -1))
end

-- Whether `member` (`TIER hex16(published) hex16(ingested) ID`) is this record's: the same version of
-- the article, not another one stored since under the same id.
local function member_matches(record, member)
  local rank = string.sub(record, 34, 34) .. hex(string.sub(record, 35, 42)) .. hex(string.sub(record, 43, 50))
  return string.sub(member, 1, #rank) == rank
end

-- Published, as 8 bytes that compare bytewise as the time does.
local function record_published(record) return string.sub(record, 35, 42) end
