-- Small helpers shared by the benchmarks (loaded with dofile: spec/bench is not a package path).
local M = {}

--- { median, min, max, n } of a list of numbers (not modified).
function M.stats(list)
	local s = {}
	for i, v in ipairs(list) do s[i] = v end
	table.sort(s)
	local n = #s
	local median
	if n == 0 then return { n = 0 } end
	if n % 2 == 1 then median = s[(n + 1) // 2] else median = (s[n // 2] + s[n // 2 + 1]) / 2 end
	return { median = median, min = s[1], max = s[n], n = n }
end

--- Run `main(env)` in a fresh harness environment, clean it up, and exit: 2 on an error, 1 when
-- main returns a non-empty list of missed targets (named in the last line), 0 otherwise.
function M.run(name, main)
	local harness = require "harness"
	local env = harness.env()
	local ok, failed = xpcall(main, debug.traceback, env)
	if not ok then pcall(env.dump_logs, env, 20) end
	env:cleanup()
	if not ok then
		print(name .. ": ERROR " .. tostring(failed))
		os.exit(2)
	end
	if failed and #failed > 0 then
		print(name .. ": MISSED " .. table.concat(failed, "; "))
		os.exit(1)
	end
	print(name .. ": " .. (failed and "all targets met" or "done"))
end

return M
