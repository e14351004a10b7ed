-- wrk: each request changes the stock of one of the registered products (ids.txt in the
-- working directory), so every request is a command that appends one event. Thread t of
-- WRK_THREADS takes every WRK_THREADS-th product from t, so threads never race on a product.
-- EVENTMALL_KEY is partner bench's API key.
local ids = {}
for line in io.lines("ids.txt") do ids[#ids + 1] = line end
local stride = tonumber(os.getenv("WRK_THREADS") or "2")
local authorization = "Bearer " .. os.getenv("EVENTMALL_KEY")
local counter = 0
local threads = 0
function setup(thread) thread:set("offset", threads); threads = threads + 1 end
request = function()
  counter = counter + 1
  local id = ids[((counter * stride + offset) % #ids) + 1]
  local body = '{"partner_id":"bench","stock":' .. (counter % 1000 + 1) .. '}'
  return wrk.format("POST", "/v1/products/" .. id .. "/stock",
    {["Content-Type"] = "application/json", ["Authorization"] = authorization}, body)
end
local failures = 0
response = function(status, headers, body)
  if status ~= 200 then
    failures = failures + 1
    if failures <= 5 then print("status " .. status .. " " .. body) end
  end
end
