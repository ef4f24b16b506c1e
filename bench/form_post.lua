-- wrk script: POST one fixed form body with one Authorization header on every request.
-- Both come from the environment (set by bench/oauth_tokens.py): WRK_BODY, an
-- application/x-www-form-urlencoded body, and WRK_AUTHORIZATION, e.g. "Basic Y2xpZW50OnNlY3JldA==".
local body = os.getenv("WRK_BODY")
local authorization = os.getenv("WRK_AUTHORIZATION")
assert(body and body ~= "", "WRK_BODY is not set")
assert(authorization and authorization ~= "", "WRK_AUTHORIZATION is not set")

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = authorization
