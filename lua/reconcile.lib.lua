-- When the policy changes (runtime edit or config reload), close the established streams that
-- the new policy no longer allows: the partner is gone, the method by which that domain
-- authenticated on the stream is no longer one of its allowed methods, its certificate matches
-- none of pins added or changed since, or the stream is beyond a lowered connection_limit.
-- Every authenticated domain of a stream is checked with its own method.

return function (policy, refuse, sessions, certs, limits)
	local function check(session, remote, method)
		if session.destroyed then return; end
		local partner, why = policy.resolve(remote);
		if not partner then
			refuse(session, remote, "policy_changed", why);
		elseif not policy.allows(partner, method) then
			refuse(session, remote, "policy_changed", ("the partner settings of %s no longer allow %s"):format(
				remote, method));
		else
			local problem = certs.pin_problem(session, partner, remote);
			if problem then refuse(session, remote, "policy_changed", problem); end
		end
	end

	local function reconcile()
		for _, s in ipairs(sessions.walk()) do check(s.session, s.remote, s.method); end
		for _, s in ipairs(limits.over_limit()) do
			if not s.session.destroyed then refuse(s.session, s.remote, "policy_changed", s.text); end
		end
	end
	policy.on_change(reconcile);

	-- Loaded on a running server: streams authenticated before never passed this policy. They
	-- are reset (RFC 6120 §4.9.3.16) and the peers authenticate again under it.
	for _, session in ipairs(sessions.unrecorded()) do
		session.log("info", "Resetting a stream authenticated before the partner policy of %s was loaded", module.host);
		session:close({ condition = "reset", text = "the partner policy of " .. module.host .. " is now in force" });
	end
	reconcile();
end
