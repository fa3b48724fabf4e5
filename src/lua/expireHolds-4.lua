--[[
  expireHolds: the sweep. Gives the units of holds with expiresAt <= now back to stock and
  their users' allowance back, at most ARGV[3] holds per call so one call never blocks Redis
  for long; the caller repeats while a call comes back full.

  KEYS[1] where units live: the stock counter (ARGV[1] = 'counter') or the token list
          (ARGV[1] = 'list', one token per unit)
  KEYS[2] ledger hash: reservation id -> entry (format in includes/ledger-entry.lua)
  KEYS[3] live holds sorted set, scored by expiresAt
  KEYS[4] per-user hash: user -> units held + bought

  ARGV[1] 'counter' or 'list'
  ARGV[2] now, epoch ms from the caller's clock
  ARGV[3] most holds to sweep in this call

  Returns
    {units, holds}          units returned to stock (entries now e...), and how many holds this
                            call looked at (holds = ARGV[3] means there may be more)
]]
--#include ledger-entry
--#include return-units

local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))

local units = 0
for _, id in ipairs(ids) do
  local entry = redis.call('HGET', KEYS[2], id)
  if entry and entryState(entry) == 'h' then
    units = units + endHold(KEYS[2], KEYS[4], id, entry, 'e')
  end
end
if #ids > 0 then redis.call('ZREM', KEYS[3], unpack(ids)) end

returnUnits(ARGV[1], KEYS[1], units)
return { units, #ids }
