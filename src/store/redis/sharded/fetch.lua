-- fetch: KEYS[1] = the number→id hash holding a number; ARGV = the number's field in it, the number,
-- the prefix of the record keys of its slot. Read-only. Returns the record of the article with that
-- number, or false when there is none (deleted, or replaced by a version with another number: its
-- postings are on their way out). The record is in the hash's slot, not in KEYS: its name is the id
-- read here.

local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return false end
local record = redis.call('GET', ARGV[3] .. id)
if not record or record_number(record) ~= ARGV[2] then return false end
return record
