--[[
  confirmHold: turns a live hold into a sale. A hold whose expiresAt <= now is refused
  even when no sweep has run yet, so a late payment never buys units that are already
  due back on sale. The user's units stay counted: the limit covers held + bought.

  KEYS[1] ledger hash: reservation id -> entry (format in includes/ledger-entry.lua)
  KEYS[2] live holds sorted set

  ARGV[1] reservation id
  ARGV[2] now, epoch ms from the caller's clock

  Returns
    1                       confirmed: the entry is now sold and no longer a live hold
    -4 UnknownReservation   no such reservation in the ledger
    -5 NotHeld              the reservation is already sold, released or expired
    -6 Expired              still held, but expiresAt <= now
]]
--#include ledger-entry

local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return -4 end
if entryState(entry) ~= 'h' then return -5 end
if entryExpiresAt(entry) <= tonumber(ARGV[2]) then return -6 end

redis.call('HSET', KEYS[1], ARGV[1], withState(entry, 's'))
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
