-- lookup: ARGV = ns, band keys (5 bytes each, concatenated), limit. Read-only. Returns {candidates, heads}.

return lookup(posted_all(split_bands(ARGV[2])), tonumber(ARGV[3]), false)
