-- Instruction counts per policy:lookup under `valgrind --tool=callgrind`, for a fixed workload
-- (spec/bench/lookup_workload.lua: 10,000 partners, 100,000 lookups; 10,000 for U-labels).
-- Only the instructions executed inside l_lookup (the C entry point, including the Lua API
-- calls it makes and libidn2) are counted: --toggle-collect=l_lookup. The counts do not depend
-- on machine load (the first case is run twice to show it; Lua's per-process string-hash seed
-- moves them by up to ~1%).
--   lua5.4 spec/bench/callgrind_bench.lua [plugin dir]
-- Exit status 1 when a target (README "Performance") is missed, 2 when valgrind is missing.
local plugin = arg[1] or "build/plugins/mod_s2s_partners"
local VALGRIND = os.getenv("VALGRIND") or "valgrind"
local LUA = os.getenv("LUA") or "lua5.4"
local OUT = "build/bench"

-- instructions per lookup; measured 914 / 781 / 1,693 / 65,131 (README "Performance")
local CASES = {
	{ case = "hit", calls = 100000, what = "lower-case ASCII hit", target = 1500 },
	{ case = "hit", calls = 100000, what = "lower-case ASCII hit (again)", target = 1500 },
	{ case = "miss", calls = 100000, what = "lower-case ASCII miss", target = 1500 },
	{ case = "upper", calls = 100000, what = "upper-case ASCII hit", target = 2500 },
	{ case = "ulabel", calls = 10000, what = "U-label hit (libidn2)", target = 100000 },
}

if not os.execute(VALGRIND .. " --version >/dev/null 2>&1") then
	print("callgrind bench: " .. VALGRIND .. " not found")
	os.exit(2)
end
os.execute("mkdir -p " .. OUT)

local failed = {}
local counts = {}
print(("Instruction counts (callgrind, inside policy:lookup, 10,000 partners)"))
print(("  %-32s %10s %14s %12s  %s"):format("case", "lookups", "instructions", "per lookup", "target"))
for i, c in ipairs(CASES) do
	local file = ("%s/callgrind.%d.%s"):format(OUT, i, c.case)
	os.remove(file)
	local cmd = ("%s --tool=callgrind --toggle-collect=l_lookup --callgrind-out-file=%s %s "
		.. "spec/bench/lookup_workload.lua %s %s %d >/dev/null 2>%s.log"):format(VALGRIND, file, LUA, plugin, c.case, c.calls, file)
	assert(os.execute(cmd), "callgrind failed: " .. cmd)
	local f = assert(io.open(file))
	local total
	for line in f:lines() do
		total = total or tonumber(line:match("^totals:%s*(%d+)")) or tonumber(line:match("^summary:%s*(%d+)"))
	end
	f:close()
	assert(total, "no totals in " .. file)
	local per = total / c.calls
	local ok = per < c.target
	if not ok then failed[#failed + 1] = c.what end
	counts[#counts + 1] = per
	print(("  %-32s %10d %14d %12.1f  < %d %s"):format(c.what, c.calls, total, per, c.target, ok and "ok" or "MISSED"))
end
if counts[1] ~= counts[2] then
	print(("  note: the repeated run differs by %+.1f instructions per lookup (%+.2f%%): Lua seeds its string"
		.. " hashes per process, which moves collisions in the registry / metatable lookups"):format(
		counts[2] - counts[1], (counts[2] - counts[1]) / counts[1] * 100))
end
if #failed > 0 then
	print("callgrind bench: MISSED " .. table.concat(failed, "; "))
	os.exit(1)
end
print("callgrind bench: all targets met")
