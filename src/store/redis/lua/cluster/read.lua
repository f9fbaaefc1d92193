-- read: KEYS[1] = a posting bucket's root; ARGV = the band key's field in it, the most numbers to
-- return (POSTINGS_READ_PER_KEY). Returns the oldest numbers posted under the key, as integers. A
-- script rather than a GET because a root that grew holds a header and its entries are in parts
-- (postings.lua), all in the root's slot.

return read_number(KEYS[1], ARGV[1], tonumber(ARGV[2]))
