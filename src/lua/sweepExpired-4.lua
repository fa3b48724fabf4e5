--[[
  sweepExpired: returns holds with expiresAt <= now to stock, at most ARGV[3] holds per
  call so one call never blocks Redis for long; the caller repeats while a call comes
  back full. Each swept hold is marked expired in the ledger and gives the user's
  allowance back.

  KEYS[1] where units live: the stock counter (ARGV[2] = 'counter') or the token list
          (ARGV[2] = 'list', one token per unit)
  KEYS[2] ledger hash: reservation id -> entry (format in reserveStock-5.lua)
  KEYS[3] live holds sorted set, scored by expiresAt
  KEYS[4] per-user hash: user -> units held + bought

  ARGV[1] now, epoch ms from the caller's clock
  ARGV[2] 'counter' or 'list'
  ARGV[3] most holds to sweep in this call

  Returns
    {units, holds}   units returned to stock, and how many holds this call looked at
                     (holds = ARGV[3] means there may be more)
]]
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local units = 0
for _, id in ipairs(ids) do
  local entry = redis.call('HGET', KEYS[2], id)
  if entry and string.sub(entry, 1, 1) == 'h' then
    local qty, userLen, at = string.match(entry, '^h(%d+):%d+:(%d+):()')
    qty = tonumber(qty)
    local user = string.sub(entry, at, at + tonumber(userLen) - 1)
    redis.call('HSET', KEYS[2], id, 'e' .. string.sub(entry, 2))
    if redis.call('HINCRBY', KEYS[4], user, -qty) <= 0 then redis.call('HDEL', KEYS[4], user) end
    units = units + qty
  end
end
if #ids > 0 then redis.call('ZREM', KEYS[3], unpack(ids)) end

if units > 0 then
  if ARGV[2] == 'list' then
    -- unpack has a stack limit, so tokens go back in slices
    local tokens = {}
    for i = 1, math.min(units, 1000) do tokens[i] = '1' end
    local left = units
    while left > 0 do
      local n = math.min(left, 1000)
      redis.call('RPUSH', KEYS[1], unpack(tokens, 1, n))
      left = left - n
    end
  else
    redis.call('INCRBY', KEYS[1], units)
  end
end
return { units, #ids }
