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

return M
