-- due: KEYS[1] = a slot's list of time-index days (zset, score = the day), KEYS[2] = the slot's edge
-- (zset, score 0, member = published as 8 bytes + id); ARGV = the day of the last microsecond before
-- the cutoff, the cutoff (8 bytes), the most edge members and days to return. Read-only.
-- Returns {days up to the cutoff's, oldest first; edge members published before the cutoff}.

local days = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
local members = redis.call('ZRANGEBYLEX', KEYS[2], '-', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
return {days, members}
