-- When the policy changes (runtime edit or config reload), close the established streams that
-- the new policy no longer allows: the partner is gone, or the method the stream authenticated
-- with is no longer one of its allowed methods. Every authenticated domain of a stream is checked.

return function (policy, refuse, authenticated_streams)
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
		for _, s in ipairs(authenticated_streams()) do check(s.session, s.remote); end
	end);
end
