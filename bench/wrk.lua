-- wrk's script for the bench's HTTP scenarios (bench/wrk.py writes the plan it reads).
--
--   wrk -t 2 -c 8 -d 15s -s bench/wrk.lua http://127.0.0.1:PORT -- PLAN_FILE
--
-- The plan is one "name value" a line: method, path, body and expect once;
-- idempotent (yes/no), then key and card lines (one or more each). @ORDER@
-- and @CARD@ in the path and body become a unique order id and a card: each
-- request takes the next partner key in turn and a card at random, as the
-- Python client does (bench/web.py). An order id is <tag>-<thread>-<n>, so
-- the bench can count in the database what the run booked.
-- done() prints one line "WRK_JSON {...}" (latencies in microseconds).

local threads = {}

function setup(thread)
   thread:set("id", #threads + 1)
   table.insert(threads, thread)
end

local plan, keys, cards = {}, {}, {}
local n, headers = 0, {}
ok, bad, sample = 0, 0, ""

function init(args)
   for line in io.lines(args[1]) do
      local name, value = line:match("^(%S+) (.*)$")
      if name == "key" then
         table.insert(keys, value)
      elseif name == "card" then
         table.insert(cards, value)
      elseif name then
         plan[name] = value
      end
   end
   math.randomseed(1000 + id)
   plan.expect = tonumber(plan.expect)
   if plan.body == "" then plan.body = nil end
end

function request()
   n = n + 1
   local order = plan.tag .. "-" .. id .. "-" .. n
   local card = cards[math.random(#cards)]
   headers["Authorization"] = "Bearer " .. keys[n % #keys + 1]
   if plan.body then headers["Content-Type"] = "application/json" end
   if plan.idempotent == "yes" then headers["Idempotency-Key"] = order end
   local path = plan.path:gsub("@CARD@", card)
   local body = plan.body and plan.body:gsub("@ORDER@", order):gsub("@CARD@", card)
   return wrk.format(plan.method, path, headers, body)
end

function response(status, _headers, body)
   if status == plan.expect then
      ok = ok + 1
   else
      bad = bad + 1
      if sample == "" then sample = status .. " " .. string.sub(body or "", 1, 200) end
   end
end

local function quote(s)
   return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function done(summary, latency, requests)
   local good, wrong, samples = 0, 0, {}
   for _, thread in ipairs(threads) do
      good = good + thread:get("ok")
      wrong = wrong + thread:get("bad")
      local s = thread:get("sample")
      if s ~= "" then table.insert(samples, quote(s)) end
   end
   local e = summary.errors
   local p = {}
   for _, q in ipairs({50, 90, 99, 99.9}) do
      table.insert(p, string.format('"%s": %d', tostring(q), latency:percentile(q)))
   end
   table.insert(p, string.format('"100": %d', latency.max))
   io.write(string.format(
      'WRK_JSON {"duration_us": %d, "requests": %d, "ok": %d, "bad": %d, "connect": %d, "read": %d, '
      .. '"write": %d, "timeout": %d, "samples": [%s], "percentiles_us": {%s}}\n',
      summary.duration, summary.requests, good, wrong, e.connect, e.read, e.write, e.timeout,
      table.concat(samples, ", "), table.concat(p, ", ")))
end
