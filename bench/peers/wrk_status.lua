-- Shared by the wrk scripts here: tallies response statuses over all threads and
-- prints them at the end, with the count of non-2xx answers.
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
