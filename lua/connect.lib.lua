-- `connect`: where to connect for a partner instead of DNS (Lync's ProxyFqdn), "host" or
-- "host:port". Prosody 13 lets a module replace the resolver of a new outgoing stream
-- (s2sout-pre-connect); 0.12 has no such point, so there the option is reported and not applied.

return function (policy, compat)
	if not compat.is_13() then
		local function warn(compiled)
			for _, partner in ipairs(compiled:partners()) do
				if partner.connect then
					module:log("warn", "Partner %s has connect = %q, which needs Prosody 13: on %s its streams are "
						.. "connected through DNS", partner.domain, partner.connect, prosody.version);
				end
			end
		end
		if policy.compiled then warn(policy.compiled); end
		policy.on_change(warn);
		return;
	end
	local basic = compat.require("net.resolvers.basic");
	module:hook("s2sout-pre-connect", function (event)
		local session = event.session;
		local partner = policy.resolve(session.to_host);
		if not partner or not partner.connect then return; end
		event.resolver = basic.new(partner.connect_host, partner.connect_port or 5269, "tcp", {});
		session.log("debug", "Connecting to %s for %s (partner connect)", partner.connect, session.to_host);
	end);
end
