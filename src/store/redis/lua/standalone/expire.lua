-- expire: ARGV = ns, cutoff (8 bytes, a time as record.rs stores it), the hour of the last microsecond
-- before the cutoff, limit. Removes, as delete does, articles published before the cutoff; handles at
-- most `limit` entries of the time index. Returns {removed, more}: more = 1 when it stopped at the
-- limit (the next call goes on), 0 when no article published before the cutoff is left.
--
-- Hours wholly before the cutoff are emptied: every id whose record is still published before the
-- cutoff is removed; any other id is stale (deleted since, or re-ingested with another time, which
-- appended it again under its new hour). The hour the cutoff falls in also holds articles that stay:
-- its ids move to the edge, ordered by time, and the edge gives up the ones before the cutoff.

local cutoff, cutoff_hour, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local index, edge = time_index_key(), time_edge_key()
local removed, handled = 0, 0

-- Removes `id` if its record is published before the cutoff; else returns its publication time
-- (false when there is no record).
local function lapse(id)
  local record = redis.call('GET', article_key(id))
  if not record then return false end
  local published = record_published(record)
  if bytes_less(published, cutoff) then
    remove_article(id)
    removed = removed + 1
    return false
  end
  return published
end

while handled < limit do
  local due = redis.call('ZRANGEBYLEX', edge, '-', '(' .. cutoff, 'LIMIT', 0, 1)[1]
  if due then
    redis.call('ZREM', edge, due)
    handled = handled + 1
    -- kept only if re-ingested at or after the cutoff since: then it is indexed under its new hour
    lapse(string.sub(due, 9))
  else
    local oldest = redis.call('ZRANGE', index, 0, 0, 'WITHSCORES')
    local hour = oldest[1]
    if not hour or tonumber(oldest[2]) > cutoff_hour then break end
    local id = redis.call('LPOP', time_key(hour))
    if not id then
      -- emptied (Redis dropped the list); an insert into this hour lists it again
      redis.call('ZREM', index, hour)
    else
      handled = handled + 1
      local published = lapse(id)
      if published and tonumber(oldest[2]) == cutoff_hour then
        redis.call('ZADD', edge, 0, published .. id)
      end
    end
  end
end

if handled < limit then return {removed, 0} end
return {removed, 1}
