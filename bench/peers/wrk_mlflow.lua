-- MLflow peer (mlflow models serve): pandas split-oriented DataFrame.
-- {"inputs": [[5.1, 3.5, 1.4, 0.2]]} and "instances" are accepted too (no signature needed).
-- Usage: wrk -t2 -c8 -d5s -s bench/peers/wrk_mlflow.lua http://127.0.0.1:PORT
-- Prints a status-code tally at the end; any non-2xx status is listed.
wrk.method = "POST"
wrk.path = "/invocations"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "data": [[5.1, 3.5, 1.4, 0.2]]}}'

-- The status tally, from the file beside this one.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk_status.lua")
