--[[
  releaseHold: gives one live hold's units back to stock and its user's allowance back.
  Only a hold can be released: a sale stays sold, and a second release finds the entry
  already released, so units never come back twice.

  KEYS[1] where units live: the stock counter (ARGV[1] = 'counter') or the token list
          (ARGV[1] = 'list', one token per unit)
  KEYS[2] ledger hash: reservation id -> entry (format in includes/ledger-entry.lua)
  KEYS[3] live holds sorted set, scored by expiresAt
  KEYS[4] per-user hash: user -> units held + bought

  ARGV[1] 'counter' or 'list'
  ARGV[2] the reservation id

  Returns
    qty > 0                 released (the entry is now r...); that many units went back to stock
    -4 UnknownReservation   no such reservation in the ledger
    -5 NotHeld              the reservation is already sold, released or expired
]]
--#include ledger-entry
--#include return-units

local entry = redis.call('HGET', KEYS[2], ARGV[2])
if not entry then return -4 end
if entryState(entry) ~= 'h' then return -5 end

local units = endHold(KEYS[2], KEYS[4], ARGV[2], entry, 'r')
redis.call('ZREM', KEYS[3], ARGV[2])
returnUnits(ARGV[1], KEYS[1], units)
return units
