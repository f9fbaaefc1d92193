-- finish: KEYS[1] = the member zset of a cluster merged away, KEYS[2] = its forward. Last step of a
-- merge, once its members are in the survivor: drops the moved members (only if the cluster is
-- closed, so a stray call cannot empty a live cluster). The forward stays forever.

if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DEL', KEYS[1])
end
return 1
