-- Instructions a server executes per stanza (README "Performance"), counted by callgrind: a
-- noise-free figure next to the CPU time of e2e_bench.lua. a.test runs under
-- `valgrind --tool=callgrind`, one process for every variant, switched over its admin shell: the
-- minimal allowlist spec/bench/mod_bench_allowlist.lua, then mod_s2s_partners with b.test as each
-- partner type, each loaded on its own, and the plain server (no module) measured before and
-- after each of them; a variant's cost is against the mean of the two plain measurements around
-- it, and half their difference is printed as its floor. The s2s streams are closed at each
-- switch, so each variant's are negotiated under it. b.test, its peer, runs natively.
--
-- For each path (spec/bench/workloads.lua) a short warm-up, then Lua's garbage collector is
-- stopped in a.test (through its admin shell), a callgrind dump (which zeroes the counters), a
-- fixed flood, another dump, and the collector restarted: the second dump is the flood's
-- instructions, and the growth of the Lua heap over it what the flood allocated. Why so: with
-- the collector running, where its steps fall moves a 400-stanza count by ±3%; two processes of
-- the same configuration differed by up to ±4% on every path (interned strings, the heap's
-- layout and malloc's state), and one process drifts by as much over its life: more than
-- anything sought here. Every server also hashes strings alike (spec/bench/fixtime.c: Lua's hash
-- seed is time(NULL) and addresses, and valgrind keeps the addresses). One stanza at a time
-- (each sent when the previous one arrived): in a pipelined flood how many stanzas share a read
-- or a TLS record depends on timing.
--
-- Each measurement is the fewest instructions per stanza of REPEATS floods in a row: whatever
-- else the server runs while a flood lasts (a timer, work that a loaded machine lets fall into
-- it) only ever adds instructions, so the least of several identical floods is the one with
-- the least of it.
--
--   lua5.4 spec/bench/stanza_callgrind_bench.lua     S2SP_BENCH_CG_N (100) stanzas per flood,
--                                                    S2SP_BENCH_CG_REPEATS (3) floods each,
--                                                    S2SP_BENCH_CG_LOADS (2) loads per variant
-- Exit status 1 when the module costs more than TARGET of the plain server's instructions or
-- allocation.
package.path = "spec/?.lua;spec/harness/?.lua;" .. package.path
local harness = require "harness"
local util = harness.util
local rawc2s = dofile("spec/bench/rawc2s.lua")
local workloads = dofile("spec/bench/workloads.lua")
local prosody = require "harness.prosody"

local N = tonumber(os.getenv("S2SP_BENCH_CG_N")) or 100
local REPEATS = tonumber(os.getenv("S2SP_BENCH_CG_REPEATS")) or 3
local LOADS = tonumber(os.getenv("S2SP_BENCH_CG_LOADS")) or 2
local ALLOC = os.getenv("S2SP_BENCH_CG_ALLOC") or "bump"
local WARMUP = 100
local TARGET = 0.01 -- the module's instructions per stanza, at most 1% of the plain server's
local VALGRIND = os.getenv("VALGRIND") or "valgrind"
local LUA = os.getenv("LUA") or "lua5.4"

-- Measured in this order in one process, the plain server before and after each: `module` is
-- what is loaded on a.test for the variant. The control is not judged: the allowlist is the
-- peer's way. How far two loads of one configuration differ shows in each variant's loads.
local VARIANTS = {
	{ name = "allowlist (pure Lua)", module = "bench_allowlist", control = true },
	{ name = "module, federated", module = "s2s_partners", type = "federated" },
	{ name = "module, public_verified", module = "s2s_partners", type = "public_verified" },
	{ name = "module, public_unverified", module = "s2s_partners", type = "public_unverified" },
}

-- The instructions in the newest dump of `pid` (callgrind_control -d writes one and zeroes).
local function dump(dir, pid)
	local before = util.check(("ls %s"):format(util.shq(dir)))
	util.check(("callgrind_control -d %d >/dev/null 2>&1"):format(pid))
	local file
	assert(util.poll(function()
		for name in util.check(("ls %s"):format(util.shq(dir))):gmatch("%S+") do
			if not before:find(name, 1, true) and name:match("^cg%.%d+%.%d+$") then file = name end
		end
		return file
	end, 60, 0.1), "no callgrind dump appeared")
	local total
	assert(util.poll(function()
		local text = util.read_file(dir .. "/" .. file) or ""
		total = tonumber(text:match("\nsummary:%s*(%d+)")) or tonumber(text:match("\ntotals:%s*(%d+)"))
		return total
	end, 30, 0.1), "no totals in " .. file)
	return total
end

-- The Lua heap of `server` in KiB, read through its admin shell (`> expr` prints "Result: value").
local function shell_value(server, expr)
	local out = server:shell("> " .. expr)
	local v = tonumber(out:match("Result: ([%d.]+)"))
	assert(v, ("no value of %s from the shell: %s"):format(expr, out))
	return v
end

local function main(env)
	local install = prosody.select()
	local dir = env.root .. "/callgrind"
	util.mkdir(dir)
	local script = util.check("command -v " .. util.shq(install.prosody)):gsub("%s+$", "")
	local shims = {}
	for _, name in ipairs(ALLOC == "bump" and { "fixtime", "bumpalloc" } or { "fixtime" }) do
		shims[#shims + 1] = ("%s/%s.so"):format(env.root, name)
		util.check(("%s -O2 -shared -fPIC -o %s spec/bench/%s.c -ldl"):format(os.getenv("CC") or "cc",
			util.shq(shims[#shims]), name))
	end
	local shim = table.concat(shims, ":")
	local launcher = ("env LD_PRELOAD=%s S2SP_FIXED_TIME=%d %s --tool=callgrind --dump-instr=no "
		.. "--callgrind-out-file=%s/cg.%%p %s %s"):format(util.shq(shim), os.time(), VALGRIND, dir, LUA, script)
	prosody.select(launcher).prosodyctl = install.prosodyctl -- the same installation's
	local plugins = harness.Server.plugin_paths()
	local a = env:server{ host = "a.test", users = { alice = "pw" }, log_level = "info", prosody = launcher,
		s2s_require_encryption = false, s2s_secure_auth = false,
		-- Written at once: with Prosody's default, each write arms a send timeout and disarms it
		-- once flushed, in timer tables keyed by non-integral ids (util.indexedbheap), and what
		-- that costs depends on which timers are pending (a connection's coming and going moved
		-- every path by up to 12%, from one load to the next by ±3%): a cost of Prosody's that
		-- no variant changes, taken out of all of them.
		global_options = { plugin_paths = { plugins, util.abspath("spec/bench") },
			network_settings = { nagle = false, opportunistic_writes = true } } }
	local b = env:server{ host = "b.test", users = { dave = "pw" }, log_level = "info",
		s2s_require_encryption = false, s2s_secure_auth = false }
	local function options(v)
		return { s2s_partners = { { domain = "b.test", type = v.type or "federated" } }, s2s_bench_allowlist = { "b.test" } }
	end
	a:configure{ plugin = false, vhost_options = options({}) }
	env:start({ b })
	env:start({ a }, 300)
	local dave = workloads.login(rawc2s, b, "dave")
	local alice = workloads.login(rawc2s, a, "alice")
	workloads.add_contact(alice.client, dave.jid) -- public_unverified: a contact's stanzas pass

	-- Load `name` on a.test (nil: none), with b.test as a partner of `v.type`, and close the
	-- s2s streams: the next stanzas open new ones, negotiated under what is loaded now.
	local loaded
	local function switch(name, v)
		if loaded then assert(a:shell(("module:unload(%q, %q)"):format(loaded, "a.test")):find("Unloaded", 1, true)) end
		a:configure{ vhost_options = options(v) }
		a:shell("config:reload()") -- not SIGHUP: valgrind can hold a signal back for long
		if name then assert(a:shell(("module:load(%q, %q)"):format(name, "a.test")):find("Loaded", 1, true)) end
		loaded = name
		a:shell("s2s:closeall()")
		assert(util.poll(function() return #a:s2s_sessions() == 0 end, 300, 0.2), "a.test's s2s streams did not close")
	end

	-- Instructions and bytes allocated per stanza on each path.
	local function measure()
		local row, alloc = {}, {}
		for i, path in ipairs(workloads.paths) do
			local sender, receiver, to = workloads.ends(path, alice, dave)
			sender:pump(workloads.stanzas(path, to, WARMUP, "w"), receiver, 1, 300, 1)
			shell_value(a, 'collectgarbage("collect") and collectgarbage("stop")')
			local heap0 = shell_value(a, 'collectgarbage("count")')
			dump(dir, a.pid)
			local best = math.huge
			for _ = 1, REPEATS do -- the same stanzas each time: what differs is what else ran
				sender:pump(workloads.stanzas(path, to, N, "c"), receiver, 1, 600, 1)
				best = math.min(best, dump(dir, a.pid) / N)
			end
			row[i] = best
			alloc[i] = (shell_value(a, 'collectgarbage("count")') - heap0) * 1024 / (N * REPEATS)
			shell_value(a, 'collectgarbage("restart") or 0')
		end
		return { instr = row, alloc = alloc }
	end

	local function line(label, cells) print(("  %-28s %14s %14s %14s %14s"):format(label, table.unpack(cells))) end
	print(("Instructions per stanza (callgrind, a.test under valgrind; Prosody %s; the least of %d floods of %d stanzas)")
		:format(install.version, REPEATS, N))
	line("", { "message out", "message in", "presence out", "presence in" })
	local failed = {}
	local plain = measure()
	local first = plain
	local function absolute(values)
		local cells = {}
		for i, v in ipairs(values) do cells[i] = ("%14.0f"):format(v) end
		return cells
	end
	line("no module", absolute(first.instr))
	line("  bytes allocated", absolute(first.alloc))
	-- Each variant LOADS times, in turn (all of them, then all again): what one load of the
	-- module lays out differs from the next (its tables, the heap around them), by up to ±0.5%
	-- of the server's instructions; a variant's figure is the mean over its loads.
	local results = {} -- results[v][key][i] = { delta = {...}, base = {...}, floor = {...} }
	for _ = 1, LOADS do
		for _, v in ipairs(VARIANTS) do
			switch(v.module, v)
			local m = measure()
			switch(nil, {})
			local after = measure()
			results[v] = results[v] or {}
			for _, key in ipairs({ "instr", "alloc" }) do
				results[v][key] = results[v][key] or {}
				for i, per in ipairs(m[key]) do
					local r = results[v][key][i] or { delta = {}, base = {}, floor = {} }
					results[v][key][i] = r
					local base = (plain[key][i] + after[key][i]) / 2
					r.delta[#r.delta + 1], r.base[#r.base + 1] = per - base, base
					r.floor[#r.floor + 1] = math.abs(after[key][i] - plain[key][i]) / 2 / base
				end
			end
			plain = after
		end
	end
	local function mean(list)
		local sum = 0
		for _, x in ipairs(list) do sum = sum + x end
		return sum / #list
	end
	for _, v in ipairs(VARIANTS) do
		local function cells_of(key, what)
			local cells, each, floors = {}, {}, {}
			for i, r in ipairs(results[v][key]) do
				local delta, base = mean(r.delta), mean(r.base)
				local ok = v.control or delta <= TARGET * base
				if not ok then failed[#failed + 1] = v.name .. " " .. workloads.paths[i].name .. what end
				cells[i] = ("%+7.0f (%+.2f%%)%s"):format(delta, delta / base * 100, ok and "" or "!")
				local shown = {}
				for k, d in ipairs(r.delta) do shown[k] = ("%+.2f"):format(d / r.base[k] * 100) end
				each[i] = table.concat(shown, " ")
				floors[i] = ("±%.2f%%"):format(math.max(table.unpack(r.floor)) * 100)
			end
			return cells, each, floors
		end
		local instr, instr_each, instr_floor = cells_of("instr", "")
		local alloc, _, alloc_floor = cells_of("alloc", " allocation")
		line(v.name, instr)
		line("  each load, %", instr_each)
		line("  bytes allocated", alloc)
		line("  floor (plain before/after)", instr_floor)
		line("  floor, bytes", alloc_floor)
	end
	local drift = {}
	for i, per in ipairs(plain.instr) do drift[i] = ("%+.2f%%"):format((per - first.instr[i]) / first.instr[i] * 100) end
	line("no module, last vs first", drift)
	print(("  target: the module's extra instructions and bytes allocated per stanza <= %d%% of the plain server's"
		.. " measured around it, mean of %d loads (! = missed; each load's figure and the floors show what the method"
		.. " resolves)")
		:format(TARGET * 100, LOADS))
	alice.client:close()
	env:stop({ a })
	return failed
end

dofile("spec/bench/common.lua").run("stanza callgrind bench", main)
