-- What a running Prosody holds for mod_s2s_partners, and whether it complained: for the fault,
-- reload-storm and soak runs (README "Reliability"). Read over the admin shell from the module's
-- own tables (module.environment.s2s_partners_state / _status, see lua/mod_s2s_partners.lua),
-- after a full garbage collection, since both per-stream tables are weak.
local util = require "harness.util"

local modstate = {}

-- One line of Lua for `prosodyctl shell`: "k=v k=v …" for host `%s`; streams from `%s` (an
-- address whose incoming streams are not counted: a real peer's) are left out of `in`.
local QUERY = [[>local h, skip = %q, %q; collectgarbage(); collectgarbage(); ]]
	.. [[local e = prosody.hosts[h].modules.s2s_partners; local st = e.s2s_partners_state; ]]
	.. [[local function n(t, f) local c = 0; for k, v in pairs(t) do if not f or f(k, v) then c = c + 1 end end; return c end; ]]
	.. [[local function ip(s) local ok, a = pcall(function() return s.conn:ip() end); return ok and a end; ]]
	.. [[local r = e.s2s_partners_status.report(); local most = 0; ]]
	.. [[for _, p in ipairs(r.partners) do most = math.max(most, #p.attempts) end; ]]
	.. [[if r.default then most = math.max(most, #r.default.attempts) end; ]]
	.. [[return ("pending=%%d tracked=%%d dead=%%d in=%%d unauthed_in=%%d out=%%d unlisted=%%d attempts=%%d mem=%%d"):format(]]
	.. [[n(st.dialback_pending), n(st.streams), n(st.streams, function(s) return s.destroyed end), ]]
	.. [[n(prosody.incoming_s2s, function(s) return s.to_host == h or s.to_host == nil end), ]]
	.. [[n(prosody.incoming_s2s, function(s) return s.type ~= "s2sin" and ip(s) ~= skip end), ]]
	.. [[n(prosody.hosts[h].s2sout), #r.unlisted, most, math.floor(collectgarbage("count")))]]

--- The module's state on `server` for `host` (default server.host): a table of counts —
-- pending (dialback requests awaiting the authoritative server, streams.lib.lua), tracked
-- (authenticated streams, sessions.lib.lua), dead (tracked streams already destroyed), in
-- (incoming streams to the host), unauthed_in (those not authenticated, except from
-- `opts.skip_addr`), out (outgoing routes), unlisted / attempts (status rings: unlisted
-- refusals kept, most attempts kept for a partner), mem (Lua heap, KiB). nil, output on failure.
function modstate.read(server, host, opts)
	opts = opts or {}
	local out = server:shell(QUERY:format(host or server.host, opts.skip_addr or ""))
	local fields = out:match("Result: (pending=[^\n]*)") or out:match("(pending=%d+[^\n]*)")
	if not fields then return nil, out end
	local state = {}
	for k, v in fields:gmatch("([%w_]+)=(%d+)") do state[k] = tonumber(v) end
	return state
end

--- Poll until `check(state)` holds (within util.WAIT); returns the state, or nil and the last
-- one seen (serialised) for the assertion message.
function modstate.wait(server, check, opts)
	local last
	local state = util.poll(function()
		last = modstate.read(server, opts and opts.host, opts)
		return last and check(last) and last
	end, opts and opts.timeout or util.WAIT, 0.2)
	if state then return state end
	return nil, util.serialize(last or {})
end

--- The resident set size of a running server's process, in KiB.
function modstate.rss(server)
	local status = util.read_file("/proc/" .. tostring(server.pid) .. "/status") or ""
	return tonumber(status:match("VmRSS:%s*(%d+)"))
end

--- Log lines of `server` since `mark` that show a Lua error: a traceback, or any line at the
-- error level (Prosody logs a failing handler as "error" with its traceback). `allow`: Lua
-- patterns of error lines a test provokes on purpose (an invalid list on reload).
function modstate.log_problems(server, mark, allow)
	local found = {}
	for line in server:read_log(mark):gmatch("[^\n]+") do
		local bad = line:lower():find("traceback", 1, true) or line:find("[\t ]error\t")
		if bad then
			for _, pattern in ipairs(allow or {}) do
				if line:find(pattern) then bad = false break end
			end
		end
		if bad then found[#found + 1] = line end
	end
	return found
end

return modstate
