-- unpost: KEYS[1] = a posting bucket; ARGV = the band key's field in it, the article's number.
-- Removes the number from the key's postings (idempotent).

unpost_number(KEYS[1], ARGV[1], ARGV[2])
return 1
