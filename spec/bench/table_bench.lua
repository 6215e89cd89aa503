-- Partner table scale (README "Performance"): compile time, memory held and lookup time at
-- 1k, 10k, 100k and 1M partners with 3 additional domains each. Each size runs in a process of
-- its own (memory figures are not polluted by the previous size):
--
--   lua5.4 spec/bench/table_bench.lua [plugin dir]
--
-- Memory held: the Lua heap the policy keeps after a full collection, plus the growth of the
-- process's RSS during compile() (the C domain table is malloc'd, invisible to the Lua heap).
-- Exit status 1 when a target at 100k (TARGETS) is missed.
local plugin = arg[1] or "build/plugins/mod_s2s_partners"
local SIZES = { 1000, 10000, 100000, 1000000 }
local TARGETS = { compile_100k_ms = 150, memory_100k_mib = 64, lookup_100k_vs_10 = 1.5 }

local function measure(n)
	package.cpath = plugin .. "/?.so;" .. package.cpath
	local partners = require "s2s_partners"
	local clock = os.clock
	local function rss_kib()
		for line in io.lines("/proc/self/status") do
			local v = line:match("^VmRSS:%s+(%d+)")
			if v then return tonumber(v) end
		end
	end
	local list = {}
	for i = 1, n do
		list[i] = { domain = "p" .. i .. ".example", type = "federated",
			additional_domains = { "a" .. i .. ".example", "b" .. i .. ".example", "c" .. i .. ".example" } }
	end
	collectgarbage("collect"); collectgarbage("collect")
	local heap0, rss0 = collectgarbage("count"), rss_kib()
	local t0 = clock()
	local policy = assert(partners.compile(list))
	local compile_s = clock() - t0
	local rss1 = rss_kib()
	list = nil -- luacheck: ignore 311
	collectgarbage("collect"); collectgarbage("collect")
	local heap1 = collectgarbage("count")
	-- lookups of existing additional domains, names made beforehand
	local names, N = {}, 200000
	for i = 1, 1000 do names[i] = "c" .. ((i * 7919) % n + 1) .. ".example" end
	local lookup = policy.lookup
	t0 = clock()
	for i = 1, N do lookup(policy, names[i % 1000 + 1]) end
	local lookup_ns = (clock() - t0) / N * 1e9
	local held_mib = (math.max(heap1 - heap0, 0) + math.max(rss1 - rss0 - (heap1 - heap0), 0)) / 1024
	print(("%d %.1f %.1f %.1f %.0f"):format(n, compile_s * 1000, (heap1 - heap0) / 1024, held_mib, lookup_ns))
end

if arg[2] == "--size" then
	measure(tonumber(arg[3]))
	return
end

local function run(n)
	local p = assert(io.popen(("%s %s %s --size %d"):format(arg[-1] or "lua5.4", arg[0], plugin, n)))
	local out = p:read("a")
	p:close()
	local size, compile_ms, heap_mib, held_mib, lookup_ns = out:match("^(%d+) ([%d.]+) ([%d.]+) ([%d.]+) (%d+)")
	assert(size, "no figures from the size " .. n .. " run: " .. out)
	return { compile_ms = tonumber(compile_ms), heap_mib = tonumber(heap_mib), held_mib = tonumber(held_mib),
		lookup_ns = tonumber(lookup_ns) }
end

local small = run(10)
print(("%-10s %12s %14s %16s %12s"):format("partners", "compile ms", "Lua heap MiB", "memory held MiB", "lookup ns"))
local figures = {}
for _, n in ipairs(SIZES) do
	local f = run(n)
	figures[n] = f
	print(("%-10d %12.1f %14.1f %16.1f %12d"):format(n, f.compile_ms, f.heap_mib, f.held_mib, f.lookup_ns))
end
print(("%-10d %12s %14s %16s %12d"):format(10, "", "", "", small.lookup_ns))

local f, failed = figures[100000], false
local function check(what, value, target, unit)
	local ok = value <= target
	if not ok then failed = true end
	print(("%-34s %10.1f %-4s target <= %g %s  %s"):format(what, value, unit, target, unit, ok and "ok" or "MISSED"))
end
check("compile, 100k partners", f.compile_ms, TARGETS.compile_100k_ms, "ms")
check("memory held, 100k partners", f.held_mib, TARGETS.memory_100k_mib, "MiB")
check("lookup at 100k / lookup at 10", f.lookup_ns / math.max(small.lookup_ns, 1), TARGETS.lookup_100k_vs_10, "x")
os.exit(failed and 1 or 0)
