-- `connect`: where to connect for a partner instead of DNS (Lync's ProxyFqdn), "host" or
-- "host:port". Prosody 13 lets a module replace the resolver of a new outgoing stream
-- (s2sout-pre-connect); 0.12 has no such point, so there the option is reported and not applied.

return function (policy, compat)
	if not compat.is_13() then
		-- the partners with connect, found from their records over a few ticks (policy.find_later)
		local function has_connect(record) return record.connect ~= nil; end
		local function connects(partner) return partner.connect ~= nil; end
		local function say(found)
			for _, partner in ipairs(found) do
				module:log("warn", "Partner %s has connect = %q, which needs Prosody 13: on %s its streams are "
					.. "connected through DNS", partner.domain, partner.connect, prosody.version);
			end
		end
		local function warn() policy.find_later(has_connect, connects, say); end
		if policy.compiled then warn(); end
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
