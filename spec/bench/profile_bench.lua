-- Where the module's per-stanza time goes in a real Prosody (README "Performance"): a.test runs
-- the module and the sampling profiler (spec/bench/mod_bench_profile.lua), b.test is its plain
-- peer; for each partner type of b.test and each path (messages and presence, out and in) a
-- flood over the established link, then the Lua VM instructions per stanza charged to each hook
-- or filter of the module (the frame Prosody called) and to the functions inside it.
--
--   lua5.4 spec/bench/profile_bench.lua      S2SP_BENCH_PROFILE_N (5000) stanzas per flood
--   S2SP_BENCH_TYPES="federated public_verified"   the partner types to profile
-- A profile, not a verdict: no targets; the exit status is non-zero only on errors.
package.path = "spec/?.lua;spec/harness/?.lua;" .. package.path
local harness = require "harness"
local util = harness.util
local rawc2s = dofile("spec/bench/rawc2s.lua")
local workloads = dofile("spec/bench/workloads.lua")

local N = tonumber(os.getenv("S2SP_BENCH_PROFILE_N")) or 5000
local TYPES = {}
for t in (os.getenv("S2SP_BENCH_TYPES") or "federated public_verified public_unverified"):gmatch("%S+") do
	TYPES[#TYPES + 1] = t
end
local WINDOW, WARMUP = 2000, 1000

local function partners(kind) return { { domain = "b.test", type = kind } } end

local function main(env)
	local plugins = harness.Server.plugin_paths()
	local a = env:server{ host = "a.test", users = { alice = "pw" }, plugin = true, log_level = "info",
		modules = { "bench_profile" }, global_options = { plugin_paths = { plugins, util.abspath("spec/bench") } },
		vhost_options = { s2s_partners = partners(TYPES[1]) } }
	local b = env:server{ host = "b.test", users = { dave = "pw" }, log_level = "info",
		s2s_require_encryption = false, s2s_secure_auth = false }
	env:start()
	local alice, dave = workloads.login(rawc2s, a, "alice"), workloads.login(rawc2s, b, "dave")
	workloads.add_contact(alice.client, dave.jid) -- public_unverified lets a contact's stanzas through
	print(("Profile: Prosody %s, %d stanzas per flood, Lua VM instructions per stanza (samples x 97)")
		:format(a.prosody_version or "?", N))
	for ti, kind in ipairs(TYPES) do
		if ti > 1 then
			a:configure{ vhost_options = { s2s_partners = partners(kind) } }
			a:reload()
		end
		for _, path in ipairs(workloads.paths) do
			local sender, receiver, to = workloads.ends(path, alice, dave)
			sender:pump(workloads.stanzas(path, to, WARMUP, "w"), receiver, WINDOW, 60)
			assert(a:shell("> bench_profile.start()"):find("profiling", 1, true), "profiler not loaded")
			sender:pump(workloads.stanzas(path, to, N, "p"), receiver, WINDOW, 120)
			local report = a:shell(("> bench_profile.report(%d)"):format(N))
			print(("\n  b.test %s, %s:"):format(kind, path.name))
			for line in report:gmatch("[^\n]+") do
				local what, rest = line:match("(%a+) (%S+ ?%d+ %d+)$")
				if what == "total" or what == "module" then
					local _, per = rest:match("(%d+) (%d+)")
					print(("    %-44s %8s"):format(what == "total" and "all Lua in the server" or "the module", per))
				elseif what == "entry" or what == "inner" then
					local fn, _, per = rest:match("(%S+) (%d+) (%d+)")
					print(("    %-8s %-35s %8s"):format(what == "entry" and "hook" or "  in", fn, per))
				end
			end
		end
	end
end

dofile("spec/bench/common.lua").run("profile bench", main)
