-- post: KEYS[1] = a posting bucket (hash); ARGV = the band key's field in it, article id, the most
-- ids a key holds (POSTINGS_READ_PER_KEY: lookups never read past the oldest that many).
-- Insert-then-look on one band key: of two articles posting under it, the second to run sees the
-- first. Returns the ids posted under the key, newline-separated (ids have no control characters).

local ids = redis.call('HGET', KEYS[1], ARGV[1])
if not ids then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return ARGV[2]
end
local _, newlines = string.gsub(ids, '\n', '')
if newlines + 1 < tonumber(ARGV[3]) and not string.find('\n' .. ids .. '\n', '\n' .. ARGV[2] .. '\n', 1, true) then
  ids = ids .. '\n' .. ARGV[2]
  redis.call('HSET', KEYS[1], ARGV[1], ids)
end
return ids
