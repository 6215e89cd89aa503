-- Reading an OpenMetrics text (what mod_http_openmetrics serves at /metrics): the samples, and
-- the value of one sample or the sum of several.
local openmetrics = {}

--- The samples of an OpenMetrics text: { { name =, labels = { k = v }, value = number }, ... }.
function openmetrics.parse(text)
	local samples = {}
	for line in text:gmatch("[^\n]+") do
		if not line:match("^#") then
			local name, labels, value = line:match("^([%w_:]+)(%b{}) (%S+)$")
			if not name then
				name, value = line:match("^([%w_:]+) (%S+)$")
			end
			if name then
				local set = {}
				for k, v in (labels or ""):gmatch('([%w_]+)="([^"]*)"') do set[k] = v end
				samples[#samples + 1] = { name = name, labels = set, value = tonumber(value) }
			end
		end
	end
	return samples
end

-- Does `sample` carry every label of `labels` (and, when `exact`, no other)?
local function matches(sample, labels, exact)
	for k, v in pairs(labels) do
		if sample.labels[k] ~= v then return false end
	end
	if exact then
		for k in pairs(sample.labels) do
			if labels[k] == nil then return false end
		end
	end
	return true
end

--- The value of the sample `name` whose labels are exactly `labels`, or nil.
function openmetrics.value(samples, name, labels)
	for _, s in ipairs(samples) do
		if s.name == name and matches(s, labels, true) then return s.value end
	end
end

--- The sum of the samples `name` that carry the labels of `labels` (any others too); 0 for none.
function openmetrics.sum(samples, name, labels)
	local total = 0
	for _, s in ipairs(samples) do
		if s.name == name and matches(s, labels or {}, false) then total = total + s.value end
	end
	return total
end

return openmetrics
