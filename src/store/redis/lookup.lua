-- lookup: ARGV = ns, band keys (5 bytes each, concatenated), limit. Read-only. Returns {candidates, heads}.

local lists = {}
for _, band in ipairs(split_bands(ARGV[2])) do
  lists[#lists + 1] = posted(band)
end
return lookup(lists, tonumber(ARGV[3]), false)
