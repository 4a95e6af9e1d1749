-- wrk script: place single-line orders for random demo products.
-- wrk -t2 -c64 -d30s -s bench/orders.lua http://127.0.0.1:9000/api/orders
-- With authentication on, pass an admin token (it may order for any customer):
-- TOKEN=$(shop token --email admin@example.com --role admin | tail -n1) wrk … -s bench/orders.lua …
math.randomseed(os.time())
local products = {}
for i = 1, 47 do products[i] = string.format("prod-%03d", i) end
local n = 0
local headers = {["Content-Type"] = "application/json"}
local token = os.getenv("TOKEN")
if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end

request = function()
  n = n + 1
  local product = products[math.random(#products)]
  local body = string.format(
    '{"customer_name":"Load Test","customer_email":"load%d@example.com","items":[{"product_id":"%s","quantity":1}]}',
    n % 1000, product)
  return wrk.format("POST", nil, headers, body)
end

