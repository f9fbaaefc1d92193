-- delete: ARGV = ns, id. Returns {0} for an unknown id, else {1} or {1, canonical id after the delete}.

local deleted, canonical = remove_article(ARGV[2])
if not deleted then return {0} end
if not canonical then return {1} end
return {1, canonical}
