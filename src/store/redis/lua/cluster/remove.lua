-- remove: KEYS[1] = an article's record, KEYS[2] = its kept text; ARGV[1] = the prefix of its slot's number→id hashes. Deletes
-- the record, its kept text and its number, and returns the record, so that the caller removes its postings and
-- membership, or false if there is no such article. Only one of two racing deletes gets it.

local record = redis.call('GET', KEYS[1])
if not record then return false end
redis.call('DEL', KEYS[1], KEYS[2])
forget_number(record_number(record), ARGV[1])
return record
