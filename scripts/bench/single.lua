-- One JSON log per request, 10 tenants, ~200-byte texts with some PII; counts answers by status.
-- WRK_DELAY_MS (optional): pause per connection between requests, to run at a chosen rate.
local counter = 0
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "0")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  local body = string.format(
    '{"tenant_id":"tenant%d","text":"GET /api/v1/orders/%d 200 12ms user=bob%d@example.com ip=10.%d.%d.%d ua=Mozilla/5.0 (X11; Linux x86_64) trace=4bf92f3577b34da6a3ce929d0e0e4736 note=checkout ok","level":"info"}',
    counter % 10, counter, counter % 1000, counter % 200, counter % 250, counter % 240)
  return wrk.format(nil, nil, nil, body)
end

if delay_ms > 0 then
  delay = function() return delay_ms end
end
