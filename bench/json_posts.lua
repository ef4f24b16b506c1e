-- wrk script: POST JSON bodies, taken in turn from a file (one body per line), with one
-- optional Authorization header. Both come from the environment (set by
-- bench/rbac_decisions.py): WRK_BODIES, the path of the file, and WRK_AUTHORIZATION, e.g.
-- "Bearer eyJ...". Every wrk thread starts at the first body.
local path = os.getenv("WRK_BODIES")
local authorization = os.getenv("WRK_AUTHORIZATION")
assert(path and path ~= "", "WRK_BODIES is not set")

local bodies = {}
for line in io.lines(path) do
  if line ~= "" then
    bodies[#bodies + 1] = line
  end
end
assert(#bodies > 0, "no bodies in " .. path)

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end

local next_body = 0

request = function()
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end
