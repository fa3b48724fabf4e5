--[[
  returnHolds: gives live holds' units back to stock and their users' allowance back, for
  release (one hold, by id) and for sweep (the holds due at a time). One script for both so
  the ledger entry is parsed and the units are pushed back in one place.

  release (ARGV[2] = 'release'): only a hold can be released; a sale stays sold, and a second
  release finds the entry already released, so units never come back twice.
  expire (ARGV[2] = 'expire'): returns holds with expiresAt <= now, at most ARGV[4] per call so
  one call never blocks Redis for long; the caller repeats while a call comes back full.

  KEYS[1] where units live: the stock counter (ARGV[1] = 'counter') or the token list
          (ARGV[1] = 'list', one token per unit)
  KEYS[2] ledger hash: reservation id -> entry (format in reserveStock-4.lua)
  KEYS[3] live holds sorted set, scored by expiresAt
  KEYS[4] per-user hash: user -> units held + bought

  ARGV[1] 'counter' or 'list'
  ARGV[2] 'release' or 'expire'
  ARGV[3] release: the reservation id; expire: now, epoch ms from the caller's clock
  ARGV[4] expire only: most holds to sweep in this call

  Returns, release
    qty > 0                 released (the entry is now r...); that many units went back to stock
    -4 UnknownReservation   no such reservation in the ledger
    -5 NotHeld              the reservation is already sold, released or expired
  Returns, expire
    {units, holds}          units returned to stock (entries now e...), and how many holds this
                            call looked at (holds = ARGV[4] means there may be more)
]]
local release = ARGV[2] == 'release'
local ids, mark
if release then
  ids, mark = { ARGV[3] }, 'r'
else
  ids, mark = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[3], 'LIMIT', 0, tonumber(ARGV[4])), 'e'
end

local units = 0
for _, id in ipairs(ids) do
  local entry = redis.call('HGET', KEYS[2], id)
  if entry and string.sub(entry, 1, 1) == 'h' then
    local qty, userLen, at = string.match(entry, '^h(%d+):%d+:(%d+):()')
    qty = tonumber(qty)
    local user = string.sub(entry, at, at + tonumber(userLen) - 1)
    redis.call('HSET', KEYS[2], id, mark .. string.sub(entry, 2))
    if redis.call('HINCRBY', KEYS[4], user, -qty) <= 0 then redis.call('HDEL', KEYS[4], user) end
    units = units + qty
  elseif release then
    if not entry then return -4 end
    return -5
  end
end
if #ids > 0 then redis.call('ZREM', KEYS[3], unpack(ids)) end

if units > 0 then
  if ARGV[1] == 'list' then
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

if release then return units end
return { units, #ids }
