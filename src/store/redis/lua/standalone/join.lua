-- join (`Store::join`): ARGV = ns, two cluster ids. Lifts any apartness between their live clusters,
-- then merges the younger into the older as `assign` does. Returns {'nf', id} when one of them has no
-- member, else {'ok', survivor, canonical}.

local a, b = resolve(ARGV[2]), resolve(ARGV[3])
for _, cid in ipairs({a, b}) do
  if not has_members(cid) then return {'nf', cid} end
end
for _, pair in ipairs({{a, b}, {b, a}}) do
  local x, y = pair[1], pair[2]
  for _, partner in ipairs(redis.call('SMEMBERS', apart_key(x))) do
    if resolve(partner) == y then redis.call('SREM', apart_key(x), partner) end
  end
end
if a == b then return {'ok', a, first_member(a) or singleton_member(a)} end
local survivor, absorbed = a, b
if bytes_less(b, a) then survivor, absorbed = b, a end
grow(survivor)
merge_cluster(absorbed, survivor)
return {'ok', survivor, first_member(survivor)}
