-- Giving held units back, shared by releaseHold and expireHolds so a hold ends the same way
-- whichever of them ends it. Needs ledger-entry. Keys are parameters, not KEYS[i], so each
-- script's own text shows every key it touches.

-- Marks a held entry `mark` and gives its units back to the user's allowance; returns its qty.
local function endHold(ledger, users, id, entry, mark)
  local qty, user = entryHolder(entry)
  redis.call('HSET', ledger, id, withState(entry, mark))
  if redis.call('HINCRBY', users, user, -qty) <= 0 then redis.call('HDEL', users, user) end
  return qty
end

-- Puts `units` back on sale: onto the stock counter ('counter') or the token list ('list').
local function returnUnits(store, key, units)
  if units <= 0 then return end
  if store == 'list' then
    -- unpack has a stack limit, so tokens go back in slices
    local tokens = {}
    for i = 1, math.min(units, 1000) do tokens[i] = '1' end
    local left = units
    while left > 0 do
      local n = math.min(left, 1000)
      redis.call('RPUSH', key, unpack(tokens, 1, n))
      left = left - n
    end
  else
    redis.call('INCRBY', key, units)
  end
end
