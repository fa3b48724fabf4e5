-- The ledger entry, shared by every script that writes or reads one (and by redis-ledger.ts):
--   <state char><qty>:<expiresAt>:<byte length of user>:<user><idempotency key>
--   state: h held, s sold, r released, e expired
-- The state is the first character, so a state change rewrites one character; the user's
-- length lets a user name hold any byte.

local function ledgerEntry(state, qty, expiresAt, user, idempotencyKey)
  return state .. qty .. ':' .. expiresAt .. ':' .. #user .. ':' .. user .. idempotencyKey
end

local function entryState(entry)
  return string.sub(entry, 1, 1)
end

local function withState(entry, state)
  return state .. string.sub(entry, 2)
end

local function entryExpiresAt(entry)
  return tonumber(string.match(entry, '^%a%d+:(%d+):'))
end

-- qty and user of an entry
local function entryHolder(entry)
  local qty, userLen, at = string.match(entry, '^%a(%d+):%d+:(%d+):()')
  return tonumber(qty), string.sub(entry, at, at + tonumber(userLen) - 1)
end
