-- wrk script: every request names a new client in X-Forwarded-For (10.0.0.0/8, then
-- 100.64.0.0/10), up to SPRAY_N distinct addresses, then starts over.
local n = 0
local limit = tonumber(os.getenv("SPRAY_N") or "1000000")

request = function()
  n = (n % limit) + 1
  local a = 10 + math.floor(n / 16777216)
  local ip = string.format("%d.%d.%d.%d", a, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  return wrk.format("GET", "/", { ["X-Forwarded-For"] = ip })
end
