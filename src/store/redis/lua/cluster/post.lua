-- post: KEYS[1] = a posting bucket (string of entries, postings.lua); ARGV = the band key's field in
-- it, the article's number, the most numbers a key holds (POSTINGS_READ_PER_KEY: lookups never read
-- past the oldest that many). Insert-then-look on one band key: of two articles posting under it, the
-- second to run sees the first. Returns the numbers posted under the key (an array of integers).

return post_number(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]))
