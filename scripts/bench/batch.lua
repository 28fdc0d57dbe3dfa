-- NDJSON batches of BATCH_SIZE logs (default 100), 10 tenants, ~200-byte texts with some PII.
local size = tonumber(os.getenv("BATCH_SIZE") or "100")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-ndjson"
local lines = {}
for i = 1, size do
  lines[i] = string.format(
    '{"tenant_id":"tenant%d","text":"GET /api/v1/orders/%d 200 12ms user=bob%d@example.com ip=10.%d.%d.%d ua=Mozilla/5.0 (X11; Linux x86_64) trace=4bf92f3577b34da6a3ce929d0e0e4736 note=checkout ok","level":"info"}',
    i % 10, i, i % 1000, i % 200, i % 250, i % 240)
end
wrk.body = table.concat(lines, "\n")
