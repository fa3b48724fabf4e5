--[[
  takeToken: a token bucket, so a per-user request rate holds across every worker thread and
  process that shares the Redis (a bot cannot beat it by spreading over connections).

  The bucket refills continuously at ARGV[1] tokens per second up to ARGV[2]; a request costs
  ARGV[4] tokens. Time is the caller's clock (ARGV[3]), never Redis TIME: tests move time, and
  the simulation's clock is the one its latencies are measured on. The key expires once the
  bucket would be full again, so idle users cost no memory.

  KEYS[1] the user's bucket (hash: tokens, at)

  ARGV[1] refill rate, tokens per second (> 0)
  ARGV[2] burst, the bucket's capacity (>= cost)
  ARGV[3] now, epoch ms
  ARGV[4] cost of this request in tokens (usually 1)

  Returns {allowed, wait}
    allowed  1 the tokens were taken, 0 refused (nothing taken)
    wait     when refused, ms until enough tokens will be there (a Retry-After); 0 when allowed
]]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
end

local allowed, wait = 0, 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
-- store `at` as the later of now and the stored time: a caller with a lagging clock must not
-- rewind the bucket and mint tokens
local stamp = math.max(now, at)
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', stamp)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return { allowed, wait }
