-- Many streams (issue 17): N concurrent authenticated incoming s2s streams to a real Prosody,
-- with the plugin and without it: setup rate, server CPU per stream and memory per stream.
--
--   lua5.4 spec/bench/streams_bench.lua        (make bench BENCH_PARTS=streams)
--   S2SP_BENCH_STREAMS         (500)  streams held open at once by each server
--   S2SP_BENCH_STREAMS_ROUNDS  (3)    rounds (fresh servers each, the variants rotated over them)
--   S2SP_BENCH_STREAMS_BATCH   (100)  streams per batch (the batches alternate between servers)
--   S2SP_BENCH_STREAMS_WINDOW  (32)   negotiations in flight at a time
--   S2SP_PROSODY               0.12 (default) or 13, as for the harness
--
-- Three servers from the integration harness, a.test, b.test and c.test (log_level "info",
-- s2s_require_encryption = s2s_secure_auth = false in every variant, what the module requires),
-- run at the same time, one per variant:
--   listed   the module, one listed partner per peer domain (type federated; tls required, sasl
--            optional, dialback: the defaults), i.e. N partners with one stream each
--   default  the module, no partner listed, the default policy { type = "federated" } for all
--   plain    no module
-- Each round starts them afresh and gives each variant another server (after 3 rounds every
-- variant has run on every server). The peers are one raw client process (spec/bench/raws2s.lua):
-- stream i comes from p<i>.peers.test, from local address 127.0.0.2 ... 127.0.0.9 in turn, takes
-- STARTTLS with a certificate for *.peers.test from the harness's test CA (which the servers
-- trust), authenticates by SASL EXTERNAL and stays open. The streams are opened in batches that
-- go to the three servers in turn (order reversed every other batch), so the variants share
-- the load of this shared machine at a scale of a fraction of a second. Per server and round:
--   warm-up      20 streams opened and closed (code paths, TLS context) before anything is measured
--   setup rate   N / the wall time of its batches (first connect to the last stream's features after SASL)
--   server CPU   its utime + stime (/proc/PID/stat) and schedstat over its batches, / N
--   memory       its RSS and Lua heap (collectgarbage("count") over the admin shell, after a full
--                collection) with the N streams up minus before them, / N
-- and a check that all N are authenticated by SASL EXTERNAL (s2s:show()) and still open.
-- The plugin's setup rate is compared with the plain server's of the same round.
-- Exit status 1 when a target (TARGETS) is missed, 2 on an error.
package.path = "spec/?.lua;spec/harness/?.lua;" .. package.path
local harness = require "harness"
local lfs = require "lfs"
local util = harness.util
local bench = dofile("spec/bench/common.lua")
local raws2s = dofile("spec/bench/raws2s.lua")

local N = tonumber(os.getenv("S2SP_BENCH_STREAMS")) or 500
local ROUNDS = tonumber(os.getenv("S2SP_BENCH_STREAMS_ROUNDS")) or 3
local BATCH = tonumber(os.getenv("S2SP_BENCH_STREAMS_BATCH")) or 100
local WINDOW = tonumber(os.getenv("S2SP_BENCH_STREAMS_WINDOW")) or 32
local WARMUP = 20
local SOURCES = {}
for i = 2, 9 do SOURCES[#SOURCES + 1] = "127.0.0." .. i end

-- See README "Performance".
local TARGETS = {
	mem_ratio = 0.10,     -- the plugin's extra RSS per stream, at most +10% of the plain server's...
	mem_kib = 8,          -- ...or +8 KiB per stream, whichever is larger
	rate_ratio = 0.8,     -- setup rate with the plugin / without (same round; median of the rounds): at least
}

local CLK_TCK = tonumber((util.check("getconf CLK_TCK"):match("%d+"))) or 100

local function out(fmt, ...) print(fmt:format(...)) end

-- Descriptors: 3 N client sockets here, N in each Prosody (which inherits this process's limit).
local function check_fd_limit()
	local need = 3 * N + 500
	local soft = tonumber(util.check("sh -c 'ulimit -n'"):match("%d+"))
	if soft and soft >= need then return end
	local ok, pposix = pcall(function ()
		package.cpath = package.cpath .. ";/usr/lib/prosody/?.so"
		return require "util.pposix"
	end)
	if ok and pposix.setrlimit then
		local _, _, hard = pposix.getrlimit("NOFILE")
		if pposix.setrlimit("NOFILE", need, math.max(need, tonumber(hard) or 0)) then return end
	end
	error(("the open-file limit is %s, %d are needed: raise it (ulimit -n %d)"):format(tostring(soft), need, need))
end

local function cpu_of(pid)
	local stat = assert(util.read_file("/proc/" .. pid .. "/stat"), "no such process " .. pid)
	local f = {}
	for x in stat:match("%) (.*)$"):gmatch("%S+") do f[#f + 1] = x end
	local ns = 0
	for tid in lfs.dir("/proc/" .. pid .. "/task") do
		if tid:match("^%d+$") then
			local s = util.read_file("/proc/" .. pid .. "/task/" .. tid .. "/schedstat")
			ns = ns + (tonumber(s and s:match("^%d+")) or 0)
		end
	end
	return { ticks = tonumber(f[12]) + tonumber(f[13]), ns = ns }
end

local function rss_kib(pid)
	local status = util.read_file("/proc/" .. tostring(pid) .. "/status") or ""
	return tonumber(status:match("VmRSS:%s*(%d+)"))
end

-- Incoming s2s streams and the Lua heap (bytes) of `server` after a full collection.
local MEM = [[>collectgarbage(); collectgarbage(); local n = 0; for _ in pairs(prosody.incoming_s2s) do n = n + 1 end; ]]
	.. [[return ("streams=%d heap=%d"):format(n, math.floor(collectgarbage("count") * 1024))]]
local function state(server)
	local text = server:shell(MEM)
	local n, heap = text:match("streams=(%d+) heap=(%d+)")
	assert(n, "admin shell: " .. text)
	return { streams = tonumber(n), heap = tonumber(heap), rss = rss_kib(server.pid) }
end

local function fmt(list, f, unit)
	local st = bench.stats(list)
	return ("%s%s [%s-%s]"):format(f:format(st.median), unit, f:format(st.min), f:format(st.max)), st
end

local function main(env)
	check_fd_limit()
	local failed = {}
	local peers = env.ca:issue{ out = env.root .. "/peers", cn = "peers.test", names = { "*.peers.test" } }
	local tls = assert(require("ssl").newcontext{ mode = "client", protocol = "any", verify = "none",
		options = { "all" }, certificate = peers.cert, key = peers.key })
	local domains, warm, partners = {}, {}, {}
	for i = 1, N do domains[i] = "p" .. i .. ".peers.test" end
	for i = 1, WARMUP do warm[i] = "w" .. i .. ".peers.test" end
	for _, list in ipairs({ warm, domains }) do
		for _, d in ipairs(list) do partners[#partners + 1] = { domain = d, type = "federated" } end
	end
	local VARIANTS = {
		{ name = "listed", plugin = true, vhost_options = { s2s_partners = partners } },
		{ name = "default", plugin = true, vhost_options = { s2s_partners = {}, s2s_partners_default = { type = "federated" } } },
		{ name = "plain", plugin = false, vhost_options = {} },
	}
	local servers = {}
	for i, host in ipairs({ "a.test", "b.test", "c.test" }) do
		servers[i] = env:server{ host = host, log_level = "info", s2s_require_encryption = false,
			s2s_secure_auth = false, plugin = false }
	end
	local PLUGIN_LOG = "federation partners in force"
	local results = {}
	for _, v in ipairs(VARIANTS) do
		results[v.name] = { rate = {}, cpu = {}, sched = {}, rss = {}, heap = {}, latency = {}, client = {}, host = {} }
	end
	local waiter = raws2s.waiter()
	local held = {} -- every stream open now, for the cleanup

	local function round(r)
		-- variant v runs on server (v + r - 2) % 3 + 1
		local on = {}
		for vi, v in ipairs(VARIANTS) do
			local server = servers[(vi + r - 2) % #servers + 1]
			on[vi] = server
			server:configure{ plugin = v.plugin, vhost_options = v.vhost_options }
		end
		local marks = {}
		for _, s in ipairs(servers) do marks[s] = s:log_mark() end
		env:start(servers)
		for vi, v in ipairs(VARIANTS) do
			local s = on[vi]
			if v.plugin then
				assert(s:wait_log(PLUGIN_LOG, { since = marks[s], plain = true, timeout = 10 }), "the plugin did not start on " .. s.host)
			else
				assert(not s:log_contains(PLUGIN_LOG, { since = marks[s], plain = true }), "the plugin runs on " .. s.host)
			end
		end
		local function open(s, list)
			local res = raws2s.open_many{ addr = s.addr, to = s.host, domains = list, sources = SOURCES, tls = tls,
				window = WINDOW, waiter = waiter, timeout = 300 }
			for _, st in ipairs(res.streams) do held[#held + 1] = st end
			return res
		end
		for vi in ipairs(VARIANTS) do
			raws2s.close_all(open(on[vi], warm).streams)
		end
		local before, acc = {}, {}
		for vi in ipairs(VARIANTS) do
			local s = on[vi]
			assert(util.poll(function () return state(s).streams == 0 end, util.WAIT, 0.1), "warm-up streams did not close on " .. s.host)
			before[vi] = state(s)
			acc[vi] = { wall = 0, ticks = 0, ns = 0, client = 0, latency = {}, streams = {} }
		end
		local k = 0
		for first = 1, N, BATCH do
			k = k + 1
			local slice = { table.unpack(domains, first, math.min(N, first + BATCH - 1)) }
			local order = k % 2 == 1 and { 1, 2, 3 } or { 3, 2, 1 }
			for _, vi in ipairs(order) do
				local s, a = on[vi], acc[vi]
				local c0 = cpu_of(s.pid)
				local res = open(s, slice)
				local c1 = cpu_of(s.pid)
				a.wall = a.wall + (res.t1 - res.t0)
				a.ticks, a.ns = a.ticks + (c1.ticks - c0.ticks), a.ns + (c1.ns - c0.ns)
				a.client = a.client + res.cpu
				for _, x in ipairs(res.latency) do a.latency[#a.latency + 1] = x end
				for _, st in ipairs(res.streams) do a.streams[#a.streams + 1] = st end
			end
		end
		local line = {}
		for vi, v in ipairs(VARIANTS) do
			local s, a = on[vi], acc[vi]
			-- every stream authenticated by SASL EXTERNAL, as the server sees it, and still open
			local n = 0
			for _, row in ipairs(s:s2s_sessions("id host dir remote s2s_sasl")) do
				if row.dir == "in" and row.s2s_sasl == "Succeeded" and row.remote:match("^p%d+%.peers%.test$") then n = n + 1 end
			end
			assert(n == N, ("%d of %d streams are authenticated by SASL EXTERNAL on %s"):format(n, N, s.host))
			local after = state(s)
			assert(after.streams == N, ("%s has %d incoming streams, not %d"):format(s.host, after.streams, N))
			local disturbed = raws2s.count_disturbed(a.streams)
			assert(disturbed == 0, ("%d streams to %s were closed or written to"):format(disturbed, s.host))
			local res, b = results[v.name], before[vi]
			table.insert(res.rate, N / a.wall)
			table.insert(res.cpu, a.ticks * 1e3 / CLK_TCK / N)
			table.insert(res.sched, a.ns / 1e6 / N)
			table.insert(res.rss, (after.rss - b.rss) / N)
			table.insert(res.heap, (after.heap - b.heap) / 1024 / N)
			table.insert(res.latency, bench.stats(a.latency).median * 1e3)
			table.insert(res.client, a.client * 1e3 / N)
			table.insert(res.host, s.host)
			line[#line + 1] = ("%s on %s %.0f/s %.2f ms %+.1f KiB"):format(v.name, s.host, N / a.wall, a.ns / 1e6 / N,
				(after.rss - b.rss) / N)
		end
		out("    round %d: %s", r, table.concat(line, "; "))
		raws2s.close_all(held)
		held = {}
		env:stop(servers, { fast = true })
	end

	local t_start = util.now()
	out("Many streams: %s; %d concurrent incoming s2s streams (TLS + SASL EXTERNAL) per server from %d domains "
		.. "on %d source addresses, batches of %d, %d negotiating at a time; %d rounds, %d-core",
		require "harness.prosody".select().label, N, N, #SOURCES, BATCH, WINDOW, ROUNDS,
		tonumber(util.check("nproc"):match("%d+")))
	local ok, err = pcall(function ()
		for r = 1, ROUNDS do round(r) end
	end)
	raws2s.close_all(held)
	assert(ok, err)

	out("")
	out("  median [min-max] of %d rounds (%.0f s in all); memory per stream with N up minus before", ROUNDS, util.now() - t_start)
	out("    %-7s %-20s %-21s %-21s %-20s %-21s %-20s %-20s %s", "variant", "setup (streams/s)", "CPU/stream (stat)",
		"CPU/stream (sched)", "RSS/stream", "Lua heap/stream", "RSS - heap", "latency (median)", "client CPU/stream")
	local med = {}
	for _, v in ipairs(VARIANTS) do
		local r = results[v.name]
		med[v.name] = {}
		for _, key in ipairs({ "rate", "sched", "rss", "heap" }) do med[v.name][key] = bench.stats(r[key]).median end
		local c = {}
		for i = 1, #r.rss do c[i] = r.rss[i] - r.heap[i] end
		out("    %-7s %-20s %-21s %-21s %-20s %-21s %-20s %-20s %s", v.name, (fmt(r.rate, "%.0f", "")),
			(fmt(r.cpu, "%.2f", " ms")), (fmt(r.sched, "%.2f", " ms")), (fmt(r.rss, "%.1f", " KiB")),
			(fmt(r.heap, "%.2f", " KiB")), (fmt(c, "%.1f", " KiB")), (fmt(r.latency, "%.0f", " ms")),
			(fmt(r.client, "%.2f", " ms")))
	end
	local b = med.plain
	for _, name in ipairs({ "listed", "default" }) do
		local p = med[name]
		local mem_delta = p.rss - b.rss
		local mem_allowed = math.max(TARGETS.mem_ratio * b.rss, TARGETS.mem_kib)
		local mem_ok = mem_delta <= mem_allowed
		if not mem_ok then failed[#failed + 1] = name .. ": memory per stream" end
		out("  plugin (%s): memory %+.1f KiB per stream (%+.1f%%; Lua heap %+.2f KiB), target <= +%.1f KiB "
			.. "(+%d%% or +%d KiB, whichever is larger): %s", name, mem_delta, mem_delta / b.rss * 100, p.heap - b.heap,
			mem_allowed, TARGETS.mem_ratio * 100, TARGETS.mem_kib, mem_ok and "ok" or "MISSED")
		local ratios = {}
		for i = 1, ROUNDS do ratios[i] = results[name].rate[i] / results.plain.rate[i] end
		local rs = bench.stats(ratios)
		local rate_ok = rs.median >= TARGETS.rate_ratio
		if not rate_ok then failed[#failed + 1] = name .. ": setup rate" end
		out("  plugin (%s): setup rate x%.2f [%.2f-%.2f] of the plain server's in the same round (medians %.0f vs %.0f "
			.. "streams/s), server CPU per stream %+.2f ms; target >= x%.2f: %s", name, rs.median, rs.min, rs.max, p.rate,
			b.rate, p.sched - b.sched, TARGETS.rate_ratio, rate_ok and "ok" or "MISSED")
	end
	return failed
end

bench.run("streams bench", main)
