-- A fixed lookup workload for `valgrind --tool=callgrind` (spec/bench/run.sh counts the
-- instructions spent inside the C entry point with --toggle-collect=l_lookup).
--   lua5.4 spec/bench/lookup_workload.lua <plugin dir> <case> <calls>
-- case: hit (lower-case ASCII partner), miss, upper (upper-case ASCII), ulabel (U-label);
-- 10,000 partners, 1,000 distinct inputs cycled.
local plugin, case, calls = arg[1], arg[2], tonumber(arg[3])
assert(plugin and case and calls, "usage: lookup_workload.lua <plugin dir> <hit|miss|upper|ulabel> <calls>")
package.cpath = plugin .. "/?.so;" .. package.cpath
local partners = require "s2s_partners"

local list = {}
for i = 1, 10000 do
	if i % 10 == 0 then
		list[i] = { domain = ("bücher%d.example"):format(i), type = "federated" }
	else
		list[i] = { domain = ("partner%d.example"):format(i), type = "public_verified" }
	end
end
local policy = assert(partners.compile(list))
local inputs = {}
for i = 1, 1000 do
	local k = (i * 7919) % 10000 + 1
	if k % 10 == 0 then k = k - 1 end
	local d = list[k].domain
	inputs[i] = ({ hit = d, miss = ("nobody%d.example"):format(i), upper = d:upper(),
		ulabel = ("Bücher%d.Example"):format(math.max(1, k // 10) * 10) })[case]
	assert(inputs[i], "unknown case " .. case)
	assert((policy:lookup(inputs[i]) == nil) == (case == "miss"), "input does not match its case")
end
local found = 0
for _ = 1, calls // 1000 do
	for k = 1, 1000 do
		if policy:lookup(inputs[k]) then found = found + 1 end
	end
end
print(case, calls, found)
