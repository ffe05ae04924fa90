-- Shadow traffic for the local canary (haproxy.cfg loads it; local.py drives it over the admin socket).
--
-- For a sampled share of POST /predict requests that stable answered with 200, the request body and
-- stable's answer go into a bounded queue; worker tasks replay the body to the candidate server with
-- core.httpclient and compare the "predictions" arrays. The client never waits for the candidate:
-- a slow or failing candidate only fills the queue, and a full queue drops (counted) copies.
--
-- Admin socket commands:  mirror set <percent>   |   mirror show
-- One Lua state (lua-load, nbthread 1): these globals are shared by every request and task.

local MAX_QUEUE = 500
local WORKERS = 2
local TIMEOUT_MS = 10000

local percent = 0
local queue, head, tail = {}, 1, 0
local stats = {queued = 0, dropped = 0, compared = 0, agreed = 0, failed = 0}

-- The JSON array after "predictions": the same model code formats both answers the same way.
local function predictions(body)
  return body and body:match('"predictions"%s*:%s*(%b[])')
end

core.register_action("mirror_sample", {"http-req"}, function(txn)
  if percent == 0 or math.random(100) > percent then return end
  if txn.f:req_body_len() < txn.f:req_body_size() then  -- larger than a buffer: not all of it is here
    stats.dropped = stats.dropped + 1
    return
  end
  txn:set_var("txn.mirror_body", txn.f:req_body())
end)

core.register_action("mirror_queue", {"http-res"}, function(txn)
  if txn.sf:srv_name() ~= "stable" or txn.f:status() ~= 200 then return end
  if tail - head + 1 >= MAX_QUEUE then
    stats.dropped = stats.dropped + 1
    return
  end
  tail = tail + 1
  queue[tail] = {body = txn:get_var("txn.mirror_body"), answer = txn.f:res_body()}
  stats.queued = stats.queued + 1
end)

local function replay(job)
  -- The candidate slot's current address: it follows `set server` from local.py.
  local addr = core.backends["model"].servers["candidate"]:get_addr()
  -- x-mlops-synthetic: the candidate answers the copy but does not capture it (stable captured it).
  local headers = {["content-type"] = {"application/json"}, ["content-length"] = {tostring(#job.body)},
                   ["x-mlops-synthetic"] = {"mirror"}}
  local res = core.httpclient():post{url = "http://" .. addr .. "/predict", body = job.body,
                                     headers = headers, timeout = TIMEOUT_MS}
  local theirs = res and res.status == 200 and predictions(res.body)
  local ours = predictions(job.answer)
  if not theirs or not ours then
    stats.failed = stats.failed + 1
    return
  end
  stats.compared = stats.compared + 1
  if theirs == ours then stats.agreed = stats.agreed + 1 end
end

local function worker()
  while true do
    if head > tail then
      core.msleep(20)
    else
      local job = queue[head]
      queue[head] = nil
      head = head + 1
      local ok, err = pcall(replay, job)
      if not ok then
        stats.failed = stats.failed + 1
        core.Warning("mirror: " .. tostring(err))
      end
    end
  end
end

for _ = 1, WORKERS do core.register_task(worker) end

core.register_cli({"mirror", "set"}, "mirror set <percent> : copy that share of /predict requests to the candidate",
  function(applet, _, _, value)
    local wanted = tonumber(value)
    if wanted == nil or wanted < 0 or wanted > 100 then
      applet:send("error: percent must be 0-100\n")
      return
    end
    percent = math.floor(wanted)
    if percent == 0 then  -- copies still queued belong to this shadow phase (and maybe a stopped candidate)
      stats.dropped = stats.dropped + (tail - head + 1)
      queue, head, tail = {}, 1, 0
    end
    applet:send("ok\n")
  end)

core.register_cli({"mirror", "show"}, "mirror show : mirror share and counters", function(applet)
  applet:send(string.format("percent=%d queued=%d dropped=%d compared=%d agreed=%d failed=%d pending=%d\n",
    percent, stats.queued, stats.dropped, stats.compared, stats.agreed, stats.failed, tail - head + 1))
end)
