-- spill: KEYS[1] = a slot's list of time-index days, KEYS[2] = its edge, KEYS[3..] = the lists of
-- some of its days; ARGV[1] = the most entries to handle, ARGV[2] = the cutoff (8 bytes), ARGV[3..] =
-- those days. Moves entries from the lists to the edge, where they are ordered by time (an entry is
-- published as 8 bytes + id, so it is its own edge member: moving twice is harmless), and unlists the
-- days whose list is now empty (an insert lists its day again). Returns {how many it moved, edge
-- members before the cutoff, as many as the entries left to handle}.

local budget = tonumber(ARGV[1])
local moved = 0
for i = 3, #KEYS do
  if moved < budget then
    local entries = redis.call('LPOP', KEYS[i], budget - moved)
    if entries then
      for _, entry in ipairs(entries) do
        redis.call('ZADD', KEYS[2], 0, entry)
      end
      moved = moved + #entries
    end
  end
  if redis.call('EXISTS', KEYS[i]) == 0 then redis.call('ZREM', KEYS[1], ARGV[i]) end
end
local members = {}
if moved < budget then
  members = redis.call('ZRANGEBYLEX', KEYS[2], '-', '(' .. ARGV[2], 'LIMIT', 0, budget - moved)
end
return {moved, members}
