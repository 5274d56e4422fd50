-- Flask peer (naive_app.py) and the project's own app: POST /predict.
-- Usage: wrk -t2 -c8 -d5s -s bench/peers/wrk_naive.lua http://127.0.0.1:PORT
-- Prints a status-code tally at the end; any non-2xx status is listed.
wrk.method = "POST"
wrk.path = "/predict"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"features": [5.1, 3.5, 1.4, 0.2]}'

-- The status tally, from the file beside this one.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk_status.lua")
