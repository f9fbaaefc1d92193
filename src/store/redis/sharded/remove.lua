-- remove: KEYS[1] = an article's hash. Deletes it and returns {band keys, cluster or '', member} so
-- that the caller removes its postings and membership, or false if there is no such article. Only one
-- of two racing deletes gets the fields.

local fields = redis.call('HMGET', KEYS[1], 'k', 'c', 'm')
if not fields[3] then return false end
redis.call('DEL', KEYS[1])
return {fields[1] or '', fields[2] or '', fields[3]}
