-- The authenticated s2s streams of this host, as { session, remote } pairs: one pair per
-- authenticated remote domain of an incoming stream (dialback may authenticate several on one
-- stream), one per outgoing stream. A list, so callers may close streams while walking it.

local hosts = prosody.hosts;

return function ()
	local pairs_ = {};
	for session in pairs(prosody.incoming_s2s) do
		if session.type == "s2sin" and session.to_host == module.host then
			for remote, state in pairs(session.hosts or {}) do
				if state.authed then pairs_[#pairs_ + 1] = { session = session, remote = remote }; end
			end
		end
	end
	for remote, session in pairs(hosts[module.host] and hosts[module.host].s2sout or {}) do
		if session.type == "s2sout" then pairs_[#pairs_ + 1] = { session = session, remote = remote }; end
	end
	return pairs_;
end
