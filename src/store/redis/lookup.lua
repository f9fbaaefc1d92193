-- lookup: ARGV = ns, band keys (concatenated), limit. Read-only. Returns {candidates, heads}.

return lookup(bands(ARGV[2]), tonumber(ARGV[3]), false)
