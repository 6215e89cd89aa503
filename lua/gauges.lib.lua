-- The `streams` gauges (README "Logging and metrics"): streams authenticated under this host's
-- policy now, per partner and direction. Recounted from sessions.lib.lua's records whenever a
-- stream authenticates or ends and whenever the policy changes, so a stream moved to another
-- partner (or to none) by a policy change is counted where it now belongs and no gauge ever goes
-- negative. A stream carrying several domains of one partner counts once for it.

return function (policy, metrics, sessions)
	local host = module.host;
	local shown = {}; -- [label][direction] = true for every series set non-zero last time

	-- `ending`: a stream being destroyed, still in the walk.
	local function recount(ending)
		local counts, seen = {}, {};
		for _, s in ipairs(sessions.walk()) do
			local session = s.session;
			if session ~= ending then
				local label, direction = metrics.partner_label(policy.resolve(s.remote)), session.direction;
				local key = label .. " " .. direction; -- neither contains a space
				seen[key] = seen[key] or {};
				if not seen[key][session] then
					seen[key][session] = true;
					counts[label] = counts[label] or {};
					counts[label][direction] = (counts[label][direction] or 0) + 1;
				end
			end
		end
		for label, directions in pairs(shown) do
			for direction in pairs(directions) do
				if not (counts[label] and counts[label][direction]) then metrics.streams(label, direction, 0); end
			end
		end
		for label, directions in pairs(counts) do
			for direction, n in pairs(directions) do metrics.streams(label, direction, n); end
		end
		shown = counts;
	end

	module:hook("s2s-authenticated", function () recount(); end, 5); -- after streams.lib.lua's record (10)

	module:hook_global("s2s-destroyed", function (event)
		local session = event.session;
		local local_host = session.direction == "outgoing" and session.from_host or session.to_host;
		if local_host == host then recount(session); end
	end);

	policy.on_change(function () recount(); end);
	recount(); -- loaded on a running server (a reload of this module): the streams recorded before
end
