-- wrk script for bench/submit.py: one request shape per run.
--
--   wrk -s bench/lua/request.lua URL -- METHOD BODY_FILE PLACEHOLDER PREFIX
--
-- METHOD is GET or POST; BODY_FILE is a file holding the body, or "-" for none. When
-- PLACEHOLDER is not "-", every occurrence of it in the body is replaced, per request, by
-- PREFIX-<thread>-<counter>: the submit benchmark puts it in Bundle.identifier and
-- Claim.identifier, so each request is a new prior-authorization request, never a duplicate.
-- PREFIX is new for every run, so two runs against one server never send the same body.
-- done() prints one line bench/submit.py parses: WRK_RESULT key=value ...

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_index", #threads)
end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

-- The body cut at each placeholder, so a request is one table.concat, not a search.
local function split(text, sep)
  local parts, start = {}, 1
  while true do
    local i, j = string.find(text, sep, start, true)
    if i == nil then
      table.insert(parts, string.sub(text, start))
      return parts
    end
    table.insert(parts, string.sub(text, start, i - 1))
    start = j + 1
  end
end

local method, parts, fixed, prefix
local counter = 0

function init(args)
  method = args[1] or "GET"
  local body = nil
  if args[2] and args[2] ~= "-" then
    body = read_file(args[2])
  end
  if body and args[3] and args[3] ~= "-" then
    parts = split(body, args[3])
    prefix = (args[4] or "run") .. "-" .. tostring(thread_index) .. "-"
  else
    -- A fixed request is formatted once: what wrk does without a script.
    fixed = wrk.format(method, nil, nil, body)
  end
end

function request()
  if fixed then
    return fixed
  end
  counter = counter + 1
  return wrk.format(method, nil, nil, table.concat(parts, prefix .. tostring(counter)))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d p50_us=%.0f p99_us=%.0f "
      .. "connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout
  ))
end
