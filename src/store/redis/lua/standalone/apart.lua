-- kept_apart (`Store::kept_apart`): ARGV = ns, cluster ids. Read-only. Returns the pairs of their
-- positions (1-based, flattened: i1, j1, i2, j2, ...) whose live clusters are kept apart.

local live = {}
for i = 2, #ARGV do live[#live + 1] = resolve(ARGV[i]) end
local pairs_found = {}
for i = 1, #live do
  for j = i + 1, #live do
    if live[i] ~= live[j] and is_apart(live[i], live[j]) then
      pairs_found[#pairs_found + 1] = i
      pairs_found[#pairs_found + 1] = j
    end
  end
end
return pairs_found
