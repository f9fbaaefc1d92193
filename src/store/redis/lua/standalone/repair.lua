-- repair (`dedupd verify --repair`): ARGV = ns, what, its arguments. Each re-checks what it relies on,
-- so a problem gone by the time it runs changes nothing. Returns 1.
--
--   unassigned ID        removes the article if it is still unassigned (an ingest cut short)
--   unpost BAND NUMBER   removes the posting (5 bytes each) unless that number's record is posted there
--   unnumber NUMBER      forgets the number (5 bytes) unless a record carries it
--   unsingleton CLUSTER  drops the cluster's singleton entry unless its founder checks out and the
--                        cluster has no zset

local what = ARGV[2]

-- The record that carries number `n` (a Lua number), or false.
local function carrier(n)
  local id = numbered_id(n)
  local record = id and redis.call('GET', article_key(id))
  if record and number_at(record, NUMBER_AT) == n then return record end
  return false
end

if what == 'unassigned' then
  local record = redis.call('GET', article_key(ARGV[3]))
  if record and not record_cluster(record) then remove_article(ARGV[3]) end
elseif what == 'unpost' then
  local band, number = ARGV[3], ARGV[4]
  local record = carrier(number_value(number))
  local posted = false
  if record then
    for _, own in ipairs(record_bands(record)) do
      if own == band then posted = true end
    end
  end
  if not posted then unpost(band, number) end
elseif what == 'unnumber' then
  if not carrier(number_value(ARGV[3])) then unnumber(ARGV[3]) end
elseif what == 'unsingleton' then
  local cid = ARGV[3]
  if redis.call('EXISTS', cluster_key(cid)) == 1 or not singleton_member(cid) then remove_singleton(cid) end
else
  return redis.error_reply('unknown repair: ' .. tostring(what))
end
return 1
