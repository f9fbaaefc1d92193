-- put_text: KEYS[1] = an article's record, KEYS[2] = its kept text; ARGV = the content hash (8 bytes,
-- as the record holds it), the text. Keeps the text if the stored version has that content hash;
-- returns 1 if it did, 0 if there is no such version (deleted or replaced meanwhile).

local record = redis.call('GET', KEYS[1])
if not record or record_hash(record) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
