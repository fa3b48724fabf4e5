-- wrk against `flashsale serve`: every request a new buyer reserving one unit of one SKU.
--   wrk -t2 -c64 -d10s -s examples/wrk-reserve.lua http://127.0.0.1:8080
-- then: flashsale check --namespace <the sale serve printed>
-- SKU: the first SKU of the served scenario (sku-1 for the bundled ones); set FLASHSALE_SKU to change it.
local sku = os.getenv("FLASHSALE_SKU") or "sku-1"
local n = 0
local thread_id = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  thread_id = id
end

function request()
  n = n + 1
  local buyer = thread_id .. "-" .. n
  local body = string.format('{"sku":"%s","qty":1,"user":"wrk-%s","clickId":"wrk-%s"}', sku, buyer, buyer)
  return wrk.format("POST", "/v1/reservations", { ["Content-Type"] = "application/json" }, body)
end
