--[[
  The smallest safe check-and-decrement, used only as a yardstick: `bench --reference` runs it
  with redis-benchmark to show the ceiling of one Redis round trip per reservation on this machine.
  It has none of the product's guarantees (no idempotency, no per-user limit, no ledger, no hold).

  KEYS[1]  stock counter (string integer)
  ARGV[1]  units wanted (integer > 0)

  Returns  the stock left after the decrement (>= 0), or
           -1  not enough stock (nothing changed)
]]
local stock = tonumber(redis.call('GET', KEYS[1]))
local want = tonumber(ARGV[1])
if stock and stock >= want then
  return redis.call('DECRBY', KEYS[1], want)
end
return -1
