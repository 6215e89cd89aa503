-- The `streams` gauges (README "Logging and metrics"): streams authenticated under this host's
-- policy now, per partner and direction. A stream carrying several domains of one partner counts
-- once for it.
--
-- Kept up to date stream by stream (README "Performance", many streams): a record made on a
-- stream (sessions.lib.lua) counts it for its domain's partner, once; its end uncounts it. Only a
-- policy change recounts every stream from sessions.lib.lua's records, so a stream moved to another
-- partner (or to none) is counted where it now belongs. No gauge ever goes negative: a stream is
-- uncounted only for what it was counted for.

return function (policy, metrics, sessions)
	local function weak() return setmetatable({}, { __mode = "k" }); end
	local counts = {};       -- [label][direction] = streams counted now (absent: 0)
	-- [session] = the label it is counted for, or a set of labels when several (a stream with
	-- domains of more than one partner): no table for the usual stream (README "Performance").
	local counted = weak();

	local function add(label, direction, d, emit)
		local by = counts[label];
		if not by then by = {}; counts[label] = by; end
		local n = (by[direction] or 0) + d;
		by[direction] = n > 0 and n or nil;
		if next(by) == nil then counts[label] = nil; end
		if emit then metrics.streams(label, direction, n); end
	end

	-- Count `session` for the partner of `remote`, unless it is already counted for it; `emit`:
	-- set the gauge now (a recount sets them all at the end). A session's direction never changes.
	local function count(session, remote, emit)
		local label = metrics.partner_label(policy.resolve(remote));
		local c = counted[session];
		if c == label or (type(c) == "table" and c[label]) then return; end
		if c == nil then
			counted[session] = label;
		elseif type(c) == "table" then
			c[label] = true;
		else
			counted[session] = { [c] = true, [label] = true };
		end
		add(label, session.direction, 1, emit);
	end

	local function uncount(session)
		local c = counted[session];
		if c == nil then return; end
		counted[session] = nil;
		if type(c) == "table" then
			for label in pairs(c) do add(label, session.direction, -1, true); end
		else
			add(c, session.direction, -1, true);
		end
	end

	-- Every stream again, from the records (after a policy change, and at load: a reload of this
	-- module finds the streams recorded before). Series that drop out are set to 0.
	local function recount()
		local before = counts;
		counts, counted = {}, weak();
		for _, s in ipairs(sessions.walk()) do count(s.session, s.remote, false); end
		for label, directions in pairs(before) do
			for direction in pairs(directions) do
				if not (counts[label] and counts[label][direction]) then metrics.streams(label, direction, 0); end
			end
		end
		for label, directions in pairs(counts) do
			for direction, n in pairs(directions) do metrics.streams(label, direction, n); end
		end
	end

	-- After each record (streams.lib.lua's s2s-authenticated check, priority 10).
	sessions.on_domains(function (session, remote) count(session, remote, true); end);

	module:hook_global("s2s-destroyed", function (event) uncount(event.session); end);

	policy.on_change(function () recount(); end);
	recount();
end
