-- When the policy changes (runtime edit or config reload), close the established streams that
-- the new policy no longer allows: the partner is gone, or the method the stream authenticated
-- with is no longer one of its allowed methods.

local hosts = prosody.hosts;

return function (policy, refuse)
	local function check(session, remote)
		if session.destroyed then return; end
		local partner, why = policy.resolve(remote);
		if not partner then
			refuse(session, remote, "policy_changed", why);
		elseif session.s2sp_method and not policy.allows(partner, session.s2sp_method) then
			refuse(session, remote, "policy_changed", ("the partner settings of %s no longer allow %s"):format(
				remote, session.s2sp_method));
		end
	end

	policy.on_change(function ()
		local doomed = {};
		for session in pairs(prosody.incoming_s2s) do
			if session.to_host == module.host and session.type == "s2sin" then
				for remote, state in pairs(session.hosts or {}) do
					if state.authed then doomed[#doomed + 1] = { session, remote }; break; end
				end
			end
		end
		for remote, session in pairs(hosts[module.host] and hosts[module.host].s2sout or {}) do
			if session.type == "s2sout" then doomed[#doomed + 1] = { session, remote }; end
		end
		for _, pair in ipairs(doomed) do check(pair[1], pair[2]); end
	end);
end
