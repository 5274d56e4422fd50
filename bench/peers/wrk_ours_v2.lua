-- The project's own app on its V2 inference route, model "iris-logistic-regression".
-- The body is wrk_mlserver.lua's, byte for byte, so both V2 servers parse the same tensor.
-- Usage: wrk -t2 -c8 -d5s -s bench/peers/wrk_ours_v2.lua http://127.0.0.1:PORT
-- Prints a status-code tally at the end; any non-2xx status is listed.
wrk.method = "POST"
wrk.path = "/v2/models/iris-logistic-regression/infer"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"inputs": [{"name": "predict", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]}'

-- The status tally, from the file beside this one.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk_status.lua")
