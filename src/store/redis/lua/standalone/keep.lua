-- put_text: ARGV = ns, id, content hash (8 bytes, as the record holds it), text. Keeps the text for
-- the article if the stored version has that content hash; returns 1 if it did, 0 if there is no
-- such version (deleted or replaced meanwhile).

local record = redis.call('GET', article_key(ARGV[2]))
if not record or record_hash(record) ~= ARGV[3] then return 0 end
redis.call('SET', text_key(ARGV[2]), ARGV[4])
return 1
