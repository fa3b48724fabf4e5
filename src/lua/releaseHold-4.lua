--[[
  releaseHold: gives a live hold's units back to stock and the user's allowance back.
  Only a hold can be released: a sale stays sold, and a second release finds the entry
  already released, so units never come back twice.

  KEYS[1] where units live: the stock counter (ARGV[2] = 'counter') or the token list
          (ARGV[2] = 'list', one token per unit)
  KEYS[2] ledger hash: reservation id -> entry (format in reserveStock-5.lua)
  KEYS[3] live holds sorted set
  KEYS[4] per-user hash: user -> units held + bought

  ARGV[1] reservation id
  ARGV[2] 'counter' or 'list'

  Returns
    qty > 0                 released; that many units went back to stock
    -4 UnknownReservation   no such reservation in the ledger
    -5 NotHeld              the reservation is already sold, released or expired
]]
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry then return -4 end
if string.sub(entry, 1, 1) ~= 'h' then return -5 end

local qty, userLen, at = string.match(entry, '^h(%d+):%d+:(%d+):()')
qty = tonumber(qty)
local user = string.sub(entry, at, at + tonumber(userLen) - 1)

redis.call('HSET', KEYS[2], ARGV[1], 'r' .. string.sub(entry, 2))
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('HINCRBY', KEYS[4], user, -qty) <= 0 then redis.call('HDEL', KEYS[4], user) end

if ARGV[2] == 'list' then
  -- unpack has a stack limit, so a big hold's tokens go back in slices
  local tokens = {}
  for i = 1, math.min(qty, 1000) do tokens[i] = '1' end
  local left = qty
  while left > 0 do
    local n = math.min(left, 1000)
    redis.call('RPUSH', KEYS[1], unpack(tokens, 1, n))
    left = left - n
  end
else
  redis.call('INCRBY', KEYS[1], qty)
end
return qty
