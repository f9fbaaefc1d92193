-- Appends an event to the duplicate feed, unless this article version was recorded within the
-- window, then trims the oldest events past the length or the age limit (at most BUDGET a call) and
-- remembers the largest id trimmed. Returns the new entry's id, or false when nothing was appended.
--
-- KEYS: the stream, the largest trimmed id, the article's marker (all in one slot)
-- ARGV: version, payload, max length, min id to keep by age ('' for none), window in ms, budget
local stream, trimmed_key, marker = KEYS[1], KEYS[2], KEYS[3]
local version, payload = ARGV[1], ARGV[2]
local max_len, min_id, window, budget = tonumber(ARGV[3]), ARGV[4], ARGV[5], tonumber(ARGV[6])

if redis.call('GET', marker) == version then
  return false
end
local id = redis.call('XADD', stream, '*', 'e', payload)
redis.call('SET', marker, version, 'PX', window)

-- what goes is a prefix of the stream: the longer of the length's and the age's
local doomed = {}
local excess = redis.call('XLEN', stream) - max_len
if excess > 0 then
  doomed = redis.call('XRANGE', stream, '-', '+', 'COUNT', math.min(excess, budget))
end
if min_id ~= '' and #doomed < budget then
  local old = redis.call('XRANGE', stream, '-', '(' .. min_id, 'COUNT', budget)
  if #old > #doomed then
    doomed = old
  end
end
if #doomed > 0 then
  local last = doomed[#doomed][1]
  local ms, seq = string.match(last, '^(%d+)%-(%d+)$')
  -- exact, not '~': the trimmed id must be the largest one removed
  redis.call('XTRIM', stream, 'MINID', ms .. '-' .. string.format('%d', tonumber(seq) + 1))
  redis.call('SET', trimmed_key, last)
end
return id
