-- End-to-end cost of the module in a real Prosody: server CPU per message over an established
-- s2s link, and cold s2s setup time, with the plugin and without it.
--
--   lua5.4 spec/bench/e2e_bench.lua
--   S2SP_BENCH_MESSAGES (20000)  messages per timed run
--   S2SP_BENCH_PAIRS    (3)      pairs of timed runs per direction and placement (0: cold setup only)
--   S2SP_BENCH_COLD     (8)      pairs of cold-setup measurements per placement
--   S2SP_BENCH_CONTROL=1         A/A control: the plugin nowhere (the noise floor of the method;
--                                the targets are still checked and should pass)
--
-- Three servers from the integration harness (spec/harness), identical but for the plugin:
--   a.test, c.test  one runs the plugin (partner b.test, type federated), the other does not;
--                   first the plugin is on a.test, then both restart with it on c.test, so what
--                   differs between the two servers themselves cancels out (the "server bias",
--                   ~0.5-1 µs per message, would otherwise be counted as the plugin's)
--   b.test          no plugin: the peer of both
-- Within each pair of runs the order alternates (plugin first, then plain first).
-- All three use log_level "info" (debug logging would dominate the per-message cost) and
-- s2s_require_encryption = s2s_secure_auth = false (what the module requires; the same on the
-- plain server so the only difference is the module). Certificates are trusted: every stream
-- authenticates by SASL EXTERNAL over TLS, which each cold run checks in s2s:show().
--
-- Clients are raw sockets (spec/bench/rawc2s.lua): pre-built stanzas, pipelined in batches of
-- 100 with at most WINDOW messages in flight, counted on arrival. Server CPU comes from
-- /proc/PID/stat (utime + stime, 10 ms ticks) before and after a run; /proc/PID/schedstat
-- (ns) is shown next to it as a finer cross-check, and gives the server CPU of a cold setup.
-- Exit status 1 when a target (TARGETS, documented in README "Performance") is missed.
package.path = "spec/?.lua;spec/harness/?.lua;" .. package.path
local harness = require "harness"
local socket = require "socket"
local util = harness.util
local rawc2s = dofile("spec/bench/rawc2s.lua")
local bench = dofile("spec/bench/common.lua")

local N = tonumber(os.getenv("S2SP_BENCH_MESSAGES")) or 20000
local PAIRS = tonumber(os.getenv("S2SP_BENCH_PAIRS")) or 3
local COLD = tonumber(os.getenv("S2SP_BENCH_COLD")) or 8
local CONTROL = os.getenv("S2SP_BENCH_CONTROL") == "1"
local LABEL = CONTROL and "A - B (control)" or "plugin"
local WINDOW = 2000
local WARMUP = 3000

-- See README "Performance" for how these were chosen (measured figures and noise).
local TARGETS = {
	cpu_delta = 0.10,      -- plugin's extra server CPU per message (median A - median B) / median B,
	                       -- each direction: 10%, i.e. ~5 µs on Prosody 0.12's ~50 µs per message
	cold_ratio = 1.25,     -- cold setup wall time with the plugin / without, medians
	cold_cpu_ms = 1.0,     -- sending server's extra CPU per cold setup (schedstat), median A minus median B
}

local CLK_TCK = tonumber((util.check("getconf CLK_TCK"):match("%d+"))) or 100

local function cpu_of(pid)
	local stat = assert(util.read_file("/proc/" .. pid .. "/stat"), "no such process " .. pid)
	local f = {}
	for x in stat:match("%) (.*)$"):gmatch("%S+") do f[#f + 1] = x end
	local ticks = tonumber(f[12]) + tonumber(f[13]) -- utime, stime (fields 14, 15 of stat)
	local ns = 0
	local tasks = assert(io.popen("ls /proc/" .. pid .. "/task"))
	for tid in tasks:lines() do
		local s = util.read_file("/proc/" .. pid .. "/task/" .. tid .. "/schedstat")
		ns = ns + (tonumber(s and s:match("^%d+")) or 0)
	end
	tasks:close()
	return { ticks = ticks, ns = ns }
end

local function fmt_stats(list, unit, digits)
	local st = bench.stats(list)
	local f = "%." .. (digits or 1) .. "f"
	return (f .. " %s [" .. f .. "-" .. f .. "]"):format(st.median, unit, st.min, st.max), st
end

local env
local failed = {}
local function out(fmt, ...)
	print(fmt:format(...))
end

-- Run `fn(role)` for both roles of a pair, the plugin's role first on odd pairs (order effects cancel).
local function alternate(pair, fn)
	if pair % 2 == 1 then fn(1); fn(2) else fn(2); fn(1) end
end

local function stanzas(to, n, tag)
	local list = {}
	for i = 1, n do
		list[i] = ("<message to='%s' type='chat' id='%s%d'><body>benchmark message %d</body></message>")
			:format(to, tag, i, i)
	end
	return list
end

local function main()
	env = harness.env()
	local common = { log_level = "info", s2s_require_encryption = false, s2s_secure_auth = false,
		vhost_options = { s2s_partners = { { domain = "b.test", type = "federated" } } } }
	local function opts(o)
		for k, v in pairs(common) do o[k] = v end
		return o
	end
	local a = env:server(opts{ host = "a.test", users = { alice = "pw" }, plugin = not CONTROL })
	local c = env:server(opts{ host = "c.test", users = { carol = "pw" }, plugin = false })
	local b = env:server(opts{ host = "b.test", users = { bob = "pw", dave = "pw" } })
	local t_start = util.now()
	env:start()
	local USER = { ["a.test"] = "alice", ["c.test"] = "carol" }
	local function login(server, user, presence)
		local t = server:client_target()
		return rawc2s.login{ addr = t.host, port = t.port, user = user, domain = server.host,
			password = "pw", presence = presence }
	end
	local bob, dave = login(b, "bob", true), login(b, "dave", false)
	local ROLE = { CONTROL and "control" or "plugin", "plain" }

	out("End-to-end: Prosody %s, servers a.test %s, c.test %s, b.test %s (peer), %d-core; ready in %.1f s",
		a.prosody_version or "?", a.addr, c.addr, b.addr, tonumber(util.check("nproc"):match("%d+")),
		util.now() - t_start)
	out("  %d messages per run, %d pairs per placement of the plugin (a.test, then c.test), at most %d in flight",
		N, PAIRS, WINDOW)

	local directions = {
		{ name = "outgoing (local user -> b.test)", sender = function(v) return v.user end,
			receiver = function() return bob end, to = function() return "bob@b.test" end },
		{ name = "incoming (b.test -> local user)", sender = function() return dave end,
			receiver = function(v) return v.user end, to = function(v) return v.jid end },
	}
	if PAIRS < 1 then directions = {} end -- S2SP_BENCH_PAIRS=0: cold setup only
	local function samples() return { {}, {} } end
	for _, d in ipairs(directions) do
		d.cpu, d.sched, d.peer, d.client, d.rate = samples(), samples(), samples(), samples(), samples()
		d.placement = {} -- per placement: { plugin host, stat samples by role }
	end
	local cold = { wall = samples(), cpu = samples(), methods = { {}, {} } }
	local function no_s2s()
		return #a:s2s_sessions() + #b:s2s_sessions() + #c:s2s_sessions() == 0
	end

	-- the plugin runs on `with` (when not CONTROL) and not on `without`, since log position `marks`
	local PLUGIN_LOG = "federation partners in force"
	local function check_placement(with, without, marks)
		if not CONTROL then
			assert(with:wait_log(PLUGIN_LOG, { since = marks[with], plain = true, timeout = 10 }),
				"the plugin did not start on " .. with.host)
		end
		assert(not without:log_contains(PLUGIN_LOG, { since = marks[without], plain = true }),
			"the plugin runs on " .. without.host)
	end
	check_placement(a, c, {})

	for placement, servers in ipairs({ { a, c }, { c, a } }) do
		if placement == 2 then -- move the plugin to c.test: same two servers, roles swapped
			local t0 = util.now()
			env:stop({ a, c }, { fast = true })
			local marks = { [a] = a:log_mark(), [c] = c:log_mark() }
			a:configure{ plugin = false }
			c:configure{ plugin = not CONTROL }
			env:start({ a, c })
			check_placement(c, a, marks)
			out("  (plugin moved to c.test: both restarted in %.1f s)", util.now() - t0)
		end
		local roles = {}
		for i, server in ipairs(servers) do
			local user = USER[server.host]
			roles[i] = { server = server, user = login(server, user, true), jid = user .. "@" .. server.host }
		end

		-- established link, both directions
		for _, d in ipairs(directions) do
			local lists, mine = {}, samples()
			d.placement[placement] = { host = servers[1].host, cpu = mine }
			for i, v in ipairs(roles) do
				lists[i] = stanzas(d.to(v), N, "m")
				-- warm-up: establishes the s2s stream(s) and warms both servers
				d.sender(v):pump(stanzas(d.to(v), WARMUP, "w"), d.receiver(v), WINDOW, 60)
			end
			for pair = 1, PAIRS do
				alternate(pair, function(i)
					local v = roles[i]
					local s0, p0, c0, w0 = cpu_of(v.server.pid), cpu_of(b.pid), os.clock(), util.now()
					d.sender(v):pump(lists[i], d.receiver(v), WINDOW, 120)
					local s1, p1, c1, w1 = cpu_of(v.server.pid), cpu_of(b.pid), os.clock(), util.now()
					local us = (s1.ticks - s0.ticks) * 1e6 / CLK_TCK / N
					table.insert(d.cpu[i], us)
					table.insert(mine[i], us)
					table.insert(d.sched[i], (s1.ns - s0.ns) / 1e3 / N)
					table.insert(d.peer[i], (p1.ticks - p0.ticks) * 1e6 / CLK_TCK / N)
					table.insert(d.client[i], (c1 - c0) * 1e6 / N)
					table.insert(d.rate[i], N / (w1 - w0))
				end)
			end
		end

		-- cold setup: send -> receipt with no stream up
		for pair = 1, COLD do
			alternate(pair, function(i)
				local v = roles[i]
				v.server:shell("s2s:closeall()")
				b:shell("s2s:closeall()")
				assert(util.poll(no_s2s, 10, 0.05), "s2s streams did not close")
				local before = bob.received
				local c0 = cpu_of(v.server.pid).ns
				local t0 = socket.gettime()
				v.user:send("<message to='bob@b.test' type='chat' id='cold'><body>cold</body></message>")
				assert(bob:wait_received(before + 1, 10) == before + 1, "cold-setup message not received")
				table.insert(cold.wall[i], (socket.gettime() - t0) * 1e3)
				table.insert(cold.cpu[i], (cpu_of(v.server.pid).ns - c0) / 1e6)
				local row = v.server:find_s2s{ remote = "b.test", dir = "out" }[1]
				local m = row and (row.s2s_sasl == "Succeeded" and "SASL EXTERNAL" or "dialback") or "?"
				cold.methods[i][m] = (cold.methods[i][m] or 0) + 1
			end)
		end
		for _, v in ipairs(roles) do v.user:close() end
	end

	for _, d in ipairs(directions) do
		out("")
		out("  %s: CPU per message, median [min-max] of %d runs", d.name, 2 * PAIRS)
		out("    %-9s %-26s %-26s %-22s %-22s %s", "role", "server (stat)", "server (schedstat)",
			"b.test (stat)", "client", "msg/s")
		local med = {}
		for i = 1, 2 do
			local st = select(2, fmt_stats(d.cpu[i], "µs"))
			med[i] = st.median
			out("    %-9s %-26s %-26s %-22s %-22s %s", ROLE[i], (fmt_stats(d.cpu[i], "µs")), (fmt_stats(d.sched[i], "µs")),
				(fmt_stats(d.peer[i], "µs")), (fmt_stats(d.client[i], "µs")), (fmt_stats(d.rate[i], "", 0)))
		end
		-- the plugin's cost: the mean over both placements of (median with - median without), which
		-- cancels what differs between the two servers themselves (half the difference: "server bias")
		local deltas = {}
		for pl, r in ipairs(d.placement) do
			deltas[pl] = bench.stats(r.cpu[1]).median - bench.stats(r.cpu[2]).median
		end
		local delta = (deltas[1] + deltas[2]) / 2
		local ok = delta < TARGETS.cpu_delta * med[2]
		if not ok then failed[#failed + 1] = d.name .. " CPU delta" end
		out("    %s on %s: %+.1f µs, on %s: %+.1f µs; server bias %.1f µs", ROLE[1], d.placement[1].host, deltas[1],
			d.placement[2].host, deltas[2], (deltas[1] - deltas[2]) / 2)
		out("    %s: %+.1f µs/message (%+.1f%%), schedstat medians %+.1f µs; target < +%d%% (%.1f µs): %s",
			LABEL, delta, delta / med[2] * 100, bench.stats(d.sched[1]).median - bench.stats(d.sched[2]).median,
			TARGETS.cpu_delta * 100, TARGETS.cpu_delta * med[2], ok and "ok" or "MISSED")
	end

	out("")
	out("  cold s2s setup (send -> receipt, no stream up; TLS + SASL EXTERNAL; %d runs each, alternated)", 2 * COLD)
	local wall, cpu = {}, {}
	for i = 1, 2 do
		local s, st = fmt_stats(cold.wall[i], "ms")
		local cs, cst = fmt_stats(cold.cpu[i], "ms", 2)
		wall[i], cpu[i] = st.median, cst.median
		local ms = {}
		for k, n in pairs(cold.methods[i]) do ms[#ms + 1] = ("%s x%d"):format(k, n) end
		out("    %-9s %-28s server CPU %-26s method: %s", ROLE[i], s, cs, table.concat(ms, ", "))
		if cold.methods[i]["SASL EXTERNAL"] ~= 2 * COLD then
			failed[#failed + 1] = ROLE[i] .. " cold setup used another method"
		end
	end
	local ok = wall[1] / wall[2] < TARGETS.cold_ratio
	if not ok then failed[#failed + 1] = "cold setup ratio" end
	local cpu_ok = cpu[1] - cpu[2] < TARGETS.cold_cpu_ms
	if not cpu_ok then failed[#failed + 1] = "cold setup CPU delta" end
	out("    %s: %+.1f ms (x%.2f) wall, target < x%.2f: %s; %+.2f ms server CPU, target < %.1f ms: %s",
		LABEL, wall[1] - wall[2], wall[1] / wall[2], TARGETS.cold_ratio, ok and "ok" or "MISSED",
		cpu[1] - cpu[2], TARGETS.cold_cpu_ms, cpu_ok and "ok" or "MISSED")
	bob:close()
	dave:close()
end

local ok, err = xpcall(main, debug.traceback)
if env then
	if not ok then pcall(env.dump_logs, env, 20) end
	env:cleanup()
end
if not ok then
	print("e2e bench: ERROR " .. tostring(err))
	os.exit(2)
end
if #failed > 0 then
	print("e2e bench: MISSED " .. table.concat(failed, "; "))
	os.exit(1)
end
print("e2e bench: all targets met")
