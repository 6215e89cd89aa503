-- Instructions a server executes per stanza (README "Performance"), counted by callgrind: a
-- noise-free figure next to the CPU time of e2e_bench.lua. a.test runs under
-- `valgrind --tool=callgrind` and is restarted once per variant (no module, the module with
-- b.test as each partner type, the minimal allowlist spec/bench/mod_bench_allowlist.lua, and no
-- module again: the control, this method's floor); b.test, its peer, runs natively. For each path
-- (spec/bench/workloads.lua) a short warm-up, then Lua's garbage collector is stopped in a.test
-- (through its admin shell), a callgrind dump (which zeroes the counters), a fixed flood, another
-- dump, and the collector restarted: the second dump is the flood's instructions, and the growth
-- of the Lua heap over it what the flood allocated. With the collector running, when its steps
-- fall moves a 400-stanza count by ±3% from one process to the next; stopped, the instructions
-- are the server's own work and the allocation, which the collector's work is proportional to, a
-- figure of its own. And every server hashes strings alike (spec/bench/fixtime.c: Lua's hash
-- seed is time(NULL) and addresses, and valgrind keeps the addresses): with a seed of its own,
-- each process ran ±6% more or fewer instructions per stanza, the same on every path. One
-- stanza at a time (each sent when the previous one arrived): in a
-- pipelined flood how many stanzas share a read or a TLS record depends on timing.
--
--   lua5.4 spec/bench/stanza_callgrind_bench.lua     S2SP_BENCH_CG_N (400) stanzas per flood
-- Exit status 1 when the module costs more than TARGET of the plain server's instructions or
-- allocation.
package.path = "spec/?.lua;spec/harness/?.lua;" .. package.path
local harness = require "harness"
local util = harness.util
local rawc2s = dofile("spec/bench/rawc2s.lua")
local workloads = dofile("spec/bench/workloads.lua")
local prosody = require "harness.prosody"

local N = tonumber(os.getenv("S2SP_BENCH_CG_N")) or 400
local WARMUP = 100
local TARGET = 0.01 -- the module's instructions per stanza, at most 1% of the plain server's
local VALGRIND = os.getenv("VALGRIND") or "valgrind"
local LUA = os.getenv("LUA") or "lua5.4"

local VARIANTS = {
	{ name = "no module" },
	{ name = "allowlist (pure Lua)", allowlist = true },
	{ name = "module, federated", type = "federated" },
	{ name = "module, public_verified", type = "public_verified" },
	{ name = "module, public_unverified", type = "public_unverified" },
	{ name = "control: no module again", control = true },
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
	local shim = env.root .. "/fixtime.so"
	util.check(("%s -O2 -shared -fPIC -o %s spec/bench/fixtime.c"):format(os.getenv("CC") or "cc", util.shq(shim)))
	local launcher = ("env LD_PRELOAD=%s S2SP_FIXED_TIME=%d %s --tool=callgrind --dump-instr=no "
		.. "--callgrind-out-file=%s/cg.%%p %s %s"):format(util.shq(shim), os.time(), VALGRIND, dir, LUA, script)
	prosody.select(launcher).prosodyctl = install.prosodyctl -- the same installation's
	local plugins = harness.Server.plugin_paths()
	local a = env:server{ host = "a.test", users = { alice = "pw" }, log_level = "info", prosody = launcher,
		s2s_require_encryption = false, s2s_secure_auth = false,
		global_options = { plugin_paths = { plugins, util.abspath("spec/bench") } } }
	local b = env:server{ host = "b.test", users = { dave = "pw" }, log_level = "info",
		s2s_require_encryption = false, s2s_secure_auth = false }
	env:start({ b })
	local dave = workloads.login(rawc2s, b, "dave")
	print(("Instructions per stanza (callgrind, a.test under valgrind; Prosody %s; %d stanzas per flood)")
		:format(install.version, N))
	print(("  %-28s %14s %14s %14s %14s"):format("", "message out", "message in", "presence out", "presence in"))
	local plain, failed = nil, {}
	for _, v in ipairs(VARIANTS) do
		a:configure{ plugin = v.type ~= nil, vhost_modules = v.allowlist and { "bench_allowlist" } or {},
			vhost_options = { s2s_partners = v.type and { { domain = "b.test", type = v.type } } or nil,
				s2s_bench_allowlist = { "b.test" } } }
		env:start({ a }, 300)
		local alice = workloads.login(rawc2s, a, "alice")
		workloads.add_contact(alice.client, dave.jid) -- public_unverified: a contact's stanzas pass
		local row, alloc = {}, {}
		for i, path in ipairs(workloads.paths) do
			local sender, receiver, to = workloads.ends(path, alice, dave)
			sender:pump(workloads.stanzas(path, to, WARMUP, "w"), receiver, 1, 300, 1)
			shell_value(a, 'collectgarbage("collect") and collectgarbage("stop")')
			local heap0 = shell_value(a, 'collectgarbage("count")')
			dump(dir, a.pid)
			sender:pump(workloads.stanzas(path, to, N, "c"), receiver, 1, 600, 1)
			row[i] = dump(dir, a.pid) / N
			alloc[i] = (shell_value(a, 'collectgarbage("count")') - heap0) * 1024 / N
			shell_value(a, 'collectgarbage("restart") or 0')
		end
		local function cells_of(values, unit_fmt)
			local cells = {}
			for i, per in ipairs(values) do
				local base = plain and (unit_fmt and plain.alloc or plain.instr)[i]
				if base then
					local delta = per - base
					local ok = v.allowlist or v.control or delta <= TARGET * base
					if not ok then failed[#failed + 1] = v.name .. " " .. workloads.paths[i].name .. (unit_fmt or "") end
					cells[i] = ("%+7.0f (%+.2f%%)%s"):format(delta, delta / base * 100, ok and "" or "!")
				else
					cells[i] = ("%14.0f"):format(per)
				end
			end
			return cells
		end
		print(("  %-28s %14s %14s %14s %14s"):format(v.name, table.unpack(cells_of(row))))
		print(("  %-28s %14s %14s %14s %14s"):format("  bytes allocated", table.unpack(cells_of(alloc, " allocation"))))
		plain = plain or { instr = row, alloc = alloc }
		alice.client:close()
		env:stop({ a })
	end
	print(("  target: the module's extra instructions and bytes allocated per stanza <= %d%% of the plain server's"
		.. " (! = missed; the allowlist's and the control's rows show the floor)"):format(TARGET * 100))
	return failed
end

dofile("spec/bench/common.lua").run("stanza callgrind bench", main)
