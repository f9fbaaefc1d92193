-- lapse: KEYS[1] = an article's record, KEYS[2] = the edge of its slot, KEYS[3] = its kept text; ARGV = its edge member
-- (published as 8 bytes + id), the cutoff (8 bytes), the prefix of the slot's number→id hashes.
-- Drops the member; if the record is published before the cutoff, deletes it, its kept text and its number too and
-- returns it, so that the caller removes its postings and membership as a delete does. Returns false
-- when there is nothing to remove: the article is gone, or was re-ingested with a time at or after
-- the cutoff (its new version has an entry of its own). Only one of two racing calls gets the record.

redis.call('ZREM', KEYS[2], ARGV[1])
local record = redis.call('GET', KEYS[1])
if not record then return false end
if not bytes_less(record_published(record), ARGV[2]) then return false end
redis.call('DEL', KEYS[1], KEYS[3])
forget_number(record_number(record), ARGV[3])
return record
