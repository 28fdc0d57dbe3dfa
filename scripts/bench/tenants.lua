-- NDJSON batches of 100 logs (~200-byte texts with some PII) over TENANTS tenants (default 3000).
-- MIX=1: every log of a batch names a random tenant (~97 of 3,000 in each request);
-- MIX=0: every batch is one tenant's, the tenants taking turns.
local tenants = tonumber(os.getenv("TENANTS") or "3000")
local mix = os.getenv("MIX") == "1"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-ndjson"

local line = '{"tenant_id":"%s","text":"GET /api/v1/orders/%d 200 12ms user=bob%d@example.com ip=10.%d.%d.%d ua=Mozilla/5.0 (X11; Linux x86_64) trace=4bf92f3577b34da6a3ce929d0e0e4736 note=checkout ok","level":"info"}'
local counter = 0
local bodies = {}

local function batch(tenant_of)
  local lines = {}
  for i = 1, 100 do
    lines[i] = string.format(line, tenant_of(i), i, i % 1000, i % 200, i % 250, i % 240)
  end
  return table.concat(lines, "\n")
end

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  counter = math.random(tenants)
  if mix then
    for b = 1, 64 do
      bodies[b] = batch(function() return "t" .. math.random(tenants) end)
    end
  end
end

request = function()
  counter = counter + 1
  if mix then
    return wrk.format(nil, nil, nil, bodies[counter % #bodies + 1])
  end
  local tenant = "t" .. (counter % tenants)
  return wrk.format(nil, nil, nil, batch(function() return tenant end))
end
