-- MLflow peer (mlflow models serve): pandas split-oriented DataFrame.
-- {"inputs": [[5.1, 3.5, 1.4, 0.2]]} and "instances" are accepted too (no signature needed).
-- Usage: wrk -t2 -c8 -d5s -s bench/peers/wrk_mlflow.lua http://127.0.0.1:PORT
-- Prints a status-code tally at the end; any non-2xx status is listed.
wrk.method = "POST"
wrk.path = "/invocations"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"dataframe_split": {"columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "data": [[5.1, 3.5, 1.4, 0.2]]}}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local bad = 0
  for status, n in pairs(total) do
    io.write(string.format("status %d: %d\n", status, n))
    if status < 200 or status > 299 then bad = bad + n end
  end
  io.write(string.format("non-2xx: %d\n", bad))
end
