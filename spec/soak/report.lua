-- The report of a soak run (spec/soak/soak.lua): report.md (figures per class, refusals in the
-- metrics, memory and state over time, logs), samples.csv and soak.png (spec/soak/plot.py).
local util = require "harness.util"

local report = {}

local COLUMNS = { "t", "round", "rss_a", "rss_p12", "rss_p13", "heap", "tracked", "pending", "dead", "unlisted",
	"stanzas", "seconds" }

--- The sum of `field` over every class of `tally`.
function report.total(tally, field)
	local n = 0
	for _, t in pairs(tally) do n = n + t[field] end
	return n
end

-- Does the class `name` come out as the policy says? Delivered: every one; bounced: every one
-- came back as an error; refused / dropped: none delivered (they cannot be seen arriving; the
-- metrics table accounts for them).
local function class_ok(name, t)
	if name:find("(bounced)", 1, true) then return t.refused == t.sent end
	if name:find("(refused)", 1, true) or name:find("(dropped)", 1, true) then
		t.refused = t.sent - t.delivered
		return t.delivered == 0
	end
	return t.delivered == t.sent
end

local function sample_at(samples, fraction)
	return samples[math.max(1, math.ceil(#samples * fraction))]
end

--- Write the report into directory `out`; true when everything matched.
function report.write(out, run)
	util.mkdir(out)
	local ok, lines = run.failure == nil and #run.problems == 0, {}
	local function add(fmt, ...) lines[#lines + 1] = fmt:format(...) end
	add("# Soak: %s", os.date("!%Y-%m-%d %H:%M UTC"))
	add("")
	add("a.test runs the module on Prosody %s; peers: Prosody 0.12 (p12.test), Prosody 13 (p13.test) and ejabberd "
		.. "(e.test), %d domains in all (spec/soak/plan.lua). %.1f minutes, %d rounds, %d admin edits (s2s_partners:put / "
		.. "remove), %d reloads, %d stream closes (s2s:closeall).", tostring(run.prosody), #run.domains, run.elapsed / 60,
		run.rounds, run.edits, run.reloads, run.closes)
	add("")
	add("Result: **RESULT**%s", run.failure and (" — " .. run.failure) or "")
	local result_line = #lines
	add("")
	add("## Stanzas per class")
	add("")
	add("| class | sent | delivered | refused as expected | as the policy says |")
	add("|---|---|---|---|---|")
	local names = {}
	for name in pairs(run.tally) do names[#names + 1] = name end
	table.sort(names)
	for _, name in ipairs(names) do
		local t = run.tally[name]
		local good = class_ok(name, t)
		ok = ok and good
		add("| %s | %d | %d | %d | %s |", name, t.sent, t.delivered, t.refused, good and "yes" or "**no**")
	end
	add("")
	add("## Refusals in the metrics (/metrics, change over the run)")
	add("")
	add("| counter | change | expected |")
	add("|---|---|---|")
	for _, row in ipairs(run.accounting) do
		local name, got, want = row[1], row[2], row[3]
		if want and got ~= want then ok = false end
		add("| %s | %d | %s |", name, got, want and (want == got and tostring(want) or ("**" .. want .. "**")) or "≥ 1 per attempt")
	end
	add("")
	add("## Memory and module state over time")
	add("")
	add("| minute | a.test RSS (KiB) | Lua heap (KiB) | p12 RSS | p13 RSS | streams tracked | pending dialback | "
		.. "dead records | unlisted ring |")
	add("|---|---|---|---|---|---|---|---|---|")
	local shown = {}
	for _, f in ipairs({ 0, 0.2, 0.4, 0.6, 0.8, 1 }) do
		local s = sample_at(run.samples, f)
		if s and not shown[s] then
			shown[s] = true
			add("| %.1f | %d | %d | %d | %d | %d | %d | %d | %d |", s.t / 60, s.rss_a, s.heap, s.rss_p12, s.rss_p13, s.tracked,
				s.pending, s.dead, s.unlisted)
			if s.pending ~= 0 or s.unlisted > 50 then ok = false end
		end
	end
	add("")
	if run.settled then
		add("Samples are taken between rounds, right after streams were closed: a few records of sessions Prosody has "
			.. "not let go of yet (\"dead records\") are normal. Once traffic stopped: %d streams tracked, %d dead records, "
			.. "%d pending dialback requests (%.1f s later).", run.settled.state.tracked, run.settled.state.dead,
			run.settled.state.pending, run.settled.after)
	else
		ok = false
		add("Once traffic stopped, **records of closed streams or pending dialback requests stayed**.")
	end
	local warm, last = sample_at(run.samples, 0.2), run.samples[#run.samples]
	if warm and last then
		add("")
		add("After warm-up (the first fifth of the run): a.test RSS %d → %d KiB (%+.1f%%), Lua heap %d → %d KiB.",
			warm.rss_a, last.rss_a, (last.rss_a - warm.rss_a) * 100 / warm.rss_a, warm.heap, last.heap)
	end
	add("")
	add("## Logs")
	add("")
	add("Lua errors or tracebacks in the Prosody logs: %s. ejabberd `[error]` lines: %d (its own, about the refused "
		.. "streams).", #run.problems == 0 and "none" or tostring(#run.problems), run.ejabberd_errors)
	for i = 1, math.min(#run.problems, 20) do add("    %s", run.problems[i]) end
	add("")
	add("![RSS and stanza rate over time](soak.png)")
	lines[result_line] = lines[result_line]:gsub("RESULT", ok and "everything as the policy says" or "MISMATCH", 1)
	local csv = { table.concat(COLUMNS, ",") }
	for _, s in ipairs(run.samples) do
		local row = {}
		for i, c in ipairs(COLUMNS) do row[i] = tostring(s[c]) end
		csv[#csv + 1] = table.concat(row, ",")
	end
	util.write_file(out .. "/samples.csv", table.concat(csv, "\n") .. "\n")
	util.write_file(out .. "/report.md", table.concat(lines, "\n") .. "\n")
	local plotted, plot_out = util.run(("/usr/bin/python3 spec/soak/plot.py %s %s"):format(util.shq(out .. "/samples.csv"),
		util.shq(out .. "/soak.png")))
	if not plotted then io.stderr:write("soak: plot failed: ", plot_out, "\n") end
	io.stdout:write(table.concat(lines, "\n"), "\n")
	return ok
end

return report
