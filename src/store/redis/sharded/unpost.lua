-- unpost: KEYS[1] = a posting bucket (hash); ARGV = the band key's field in it, article id. Removes
-- the id from the key's postings (idempotent).

local ids = redis.call('HGET', KEYS[1], ARGV[1])
if not ids then return 0 end
local kept = {}
for other in string.gmatch(ids, '[^\n]+') do
  if other ~= ARGV[2] then kept[#kept + 1] = other end
end
if #kept == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], table.concat(kept, '\n'))
end
return 1
