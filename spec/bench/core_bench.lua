-- C core micro-benchmarks: policy:lookup / policy:resolve per call, compile() time and memory,
-- classify(). Plain Lua 5.4 with the built library (no Prosody, no busted).
--
--   lua5.4 spec/bench/core_bench.lua [plugin dir]
--
-- Every figure is CPU time (os.clock) of a loop of calls, divided by the number of calls; it
-- includes the Lua -> C call overhead the plugin pays. Each case is measured REPEATS times
-- (interleaved, so a noisy moment hits every case alike); the median and min-max are reported.
-- Exit status 1 when a target (TARGETS below, documented in README "Performance") is missed.
local plugin = "build/plugins/mod_s2s_partners"
if arg[1] then plugin = arg[1] end
package.cpath = plugin .. "/?.so;" .. package.cpath
local bench = dofile("spec/bench/common.lua")

-- Targets: generous against the figures measured (README "Performance") so that a noisy 2-core
-- CI machine does not fail them, yet tight enough to catch an accidental O(n) or an IDNA call
-- on the ASCII fast path (which costs ~10x).
local TARGETS = {
	lookup_ascii_ns = 1000,      -- lower-case ASCII hit or miss, any table size, per call
	lookup_idna_ns = 10000,      -- upper-case / U-label input (libidn2 normalisation), per call
	compile_10k_s = 0.5,         -- compile() of 10,000 partners
	compile_10k_mb = 32,         -- memory held by the compiled policy (Lua heap + malloc, RSS delta)
	classify_ns = 2000,          -- classify(tls, sasl, dialback), per call
}
local REPEATS = 5

-- Read the RSS of this process in KiB.
local function rss_kib()
	local f = assert(io.open("/proc/self/status"))
	local s = f:read("a")
	f:close()
	return tonumber(s:match("VmRSS:%s*(%d+)"))
end

-- Measure memory first, in a process that has allocated little yet.
local partners = require "s2s_partners"

local function make_list(n)
	local list = {}
	for i = 1, n do
		-- every 10th partner has a U-label domain and an additional domain, like a real list
		if i % 10 == 0 then
			list[i] = { domain = ("bücher%d.example"):format(i), type = "federated",
				additional_domains = { ("corp%d.bücher%d.example"):format(i, i) } }
		else
			list[i] = { domain = ("partner%d.example"):format(i), type = "public_verified" }
		end
	end
	return list
end

local mem
do
	local list = make_list(10000)
	collectgarbage("collect"); collectgarbage("collect")
	local kb0, rss0 = collectgarbage("count"), rss_kib()
	local policy = assert(partners.compile(list))
	collectgarbage("collect"); collectgarbage("collect")
	local kb1, rss1 = collectgarbage("count"), rss_kib()
	assert(#policy == 10000)
	mem = { lua_kib = kb1 - kb0, rss_kib = rss1 - rss0 }
	policy = nil -- luacheck: ignore 311
	list = nil -- luacheck: ignore 311
	collectgarbage("collect")
end

-- CPU seconds of fn(n) (a loop of n calls), minus nothing: the loop itself is reported separately.
local function cpu(fn, n)
	local t0 = os.clock()
	fn(n)
	return os.clock() - t0
end

-- Inputs: 1,000 distinct strings per case, cycled, so the table is not hit on one key only.
local sizes = { 10, 1000, 10000 }
local policies, inputs = {}, {}
for _, size in ipairs(sizes) do
	local list = make_list(size)
	policies[size] = assert(partners.compile(list, { type = "public_unverified" }))
	local hit, miss, upper, ulabel = {}, {}, {}, {}
	for i = 1, 1000 do
		local k = (i * 7919) % size + 1 -- a spread of partners, all of them when size <= 1000
		local d = list[k].domain
		if k % 10 == 0 then k = k - 1; d = list[k].domain end -- ASCII partner for hit/upper
		hit[i] = d
		miss[i] = ("nobody%d.example"):format(i)
		upper[i] = d:upper()
		local u = (math.max(1, k // 10)) * 10
		if u > size then u = 10 end
		ulabel[i] = ("Bücher%d.Example"):format(u)
	end
	inputs[size] = { hit = hit, miss = miss, upper = upper, ulabel = ulabel }
	-- sanity: the cases are what they claim to be
	local p = policies[size]
	assert(p:lookup(hit[1]) and p:lookup(upper[1]) and p:lookup(ulabel[1]) and not p:lookup(miss[1]),
		"bench inputs do not match the policy")
	assert(p:resolve(miss[1]).default)
end

local N_FAST, N_SLOW = 500000, 40000

local function lookup_loop(p, list, method)
	return function(n)
		local f = p[method]
		local j = 0
		for _ = 1, n // 1000 do
			for k = 1, 1000 do
				if f(p, list[k]) then j = j + 1 end
			end
		end
		return j
	end
end

local function empty_loop(list)
	return function(n)
		local j = 0
		local function f(_, x) return x end
		for _ = 1, n // 1000 do
			for k = 1, 1000 do
				if f(nil, list[k]) then j = j + 1 end
			end
		end
		return j
	end
end

local cases = {} -- { name, fn, n, target key }
for _, size in ipairs(sizes) do
	local p, inp = policies[size], inputs[size]
	for _, method in ipairs({ "lookup", "resolve" }) do
		cases[#cases + 1] = { ("%s ascii hit    %5d"):format(method, size), lookup_loop(p, inp.hit, method), N_FAST, "lookup_ascii_ns" }
		cases[#cases + 1] = { ("%s ascii miss   %5d"):format(method, size), lookup_loop(p, inp.miss, method), N_FAST, "lookup_ascii_ns" }
		cases[#cases + 1] = { ("%s upper-case   %5d"):format(method, size), lookup_loop(p, inp.upper, method), N_SLOW, "lookup_idna_ns" }
		cases[#cases + 1] = { ("%s U-label      %5d"):format(method, size), lookup_loop(p, inp.ulabel, method), N_SLOW, "lookup_idna_ns" }
	end
end
cases[#cases + 1] = { "(Lua call of a Lua function, same loop)", empty_loop(inputs[10].hit), N_FAST }
do
	local combos = {}
	for _, t in ipairs({ "required", "optional", "not_supported" }) do
		for _, s in ipairs({ "required", "optional", "not_supported" }) do
			combos[#combos + 1] = { t, s, true }
			combos[#combos + 1] = { t, s, false }
		end
	end
	local classify = partners.classify
	cases[#cases + 1] = { "classify (18 combinations, cycled)", function(n)
		for i = 1, n do
			local c = combos[i % 18 + 1]
			classify(c[1], c[2], c[3])
		end
	end, N_SLOW, "classify_ns" }
end

local samples = {}
for _ = 1, REPEATS do
	for i, c in ipairs(cases) do
		samples[i] = samples[i] or {}
		local s = cpu(c[2], c[3])
		table.insert(samples[i], s / c[3] * 1e9)
	end
end

local compile_s = {}
do
	local list = make_list(10000)
	for _ = 1, REPEATS do
		collectgarbage("collect")
		local t0 = os.clock()
		local p = assert(partners.compile(list))
		compile_s[#compile_s + 1] = os.clock() - t0
		assert(#p == 10000)
	end
end

-- report
local failed = {}
local function check(ok, what)
	if not ok then failed[#failed + 1] = what end
	return ok and "ok" or "MISSED"
end

print(("C core micro-benchmarks (%s, %d repeats, CPU time; median [min-max])"):format(plugin, REPEATS))
print(("  %-44s %12s %22s  %s"):format("case (partners)", "ns/call", "spread", "target"))
for i, c in ipairs(cases) do
	local st = bench.stats(samples[i])
	local t = c[4] and TARGETS[c[4]]
	local verdict = t and ("< %d ns %s"):format(t, check(st.median < t, c[1])) or ""
	print(("  %-44s %12.1f %22s  %s"):format(c[1], st.median, ("[%.1f-%.1f]"):format(st.min, st.max), verdict))
end
local cst = bench.stats(compile_s)
print(("  %-44s %12.1f %22s  < %.0f ms %s"):format("compile() 10,000 partners (ms)", cst.median * 1e3,
	("[%.1f-%.1f]"):format(cst.min * 1e3, cst.max * 1e3), TARGETS.compile_10k_s * 1e3,
	check(cst.median < TARGETS.compile_10k_s, "compile time")))
local mb = math.max(mem.lua_kib, mem.rss_kib) / 1024
print(("  %-44s %12s %22s  < %d MB %s"):format("compiled policy, 10,000 partners: memory",
	("%.1f MB"):format(mb), ("Lua %.1f MB, RSS +%.1f MB"):format(mem.lua_kib / 1024, mem.rss_kib / 1024),
	TARGETS.compile_10k_mb, check(mb < TARGETS.compile_10k_mb, "compile memory")))
if #failed > 0 then
	print("core bench: MISSED " .. table.concat(failed, "; "))
	os.exit(1)
end
print("core bench: all targets met")
