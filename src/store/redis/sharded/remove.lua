-- remove: KEYS[1] = an article's record. Deletes it and returns the record, so that the caller
-- removes its postings and membership, or false if there is no such article. Only one of two racing
-- deletes gets it.

local record = redis.call('GET', KEYS[1])
if not record then return false end
redis.call('DEL', KEYS[1])
return record
