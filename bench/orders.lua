-- wrk script: place single-line orders for random demo products.
-- wrk -t2 -c64 -d30s -s bench/orders.lua http://127.0.0.1:9000/api/orders
math.randomseed(os.time())
local products = {}
for i = 1, 47 do products[i] = string.format("prod-%03d", i) end
local n = 0

request = function()
  n = n + 1
  local product = products[math.random(#products)]
  local body = string.format(
    '{"customer_name":"Load Test","customer_email":"load%d@example.com","items":[{"product_id":"%s","quantity":1}]}',
    n % 1000, product)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

local statuses = {}
response = function(status)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write("status counts (last thread):\n")
  for status, count in pairs(statuses) do io.write(string.format("  %d: %d\n", status, count)) end
  io.write(string.format("latency p50 %.2f ms, p99 %.2f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
