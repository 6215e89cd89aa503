-- Per-partner stream limits: `connection_limit` (simultaneous authenticated s2s streams with a
-- partner, both directions, all its domains) and `keepalive` (whitespace keepalives on idle
-- streams; without them an idle stream is closed at Prosody's read timeout).

-- A listed partner's limit counts the streams of all its domains; the default policy's limit
-- applies to each unlisted domain on its own (README "Partner record").
return function (policy, refuse, sessions)
	-- Whose limit a stream of `domain` (governed by `partner`) counts against.
	local function party(partner, domain)
		if partner.default then return domain; end
		return partner;
	end

	-- Does the authenticated domain `remote` count against the limit of `partner` for `domain`?
	local function same_party(partner, domain, remote)
		local p = policy.resolve(remote);
		return p ~= nil and party(p, remote) == party(partner, domain);
	end

	local function limit_text(partner, domain)
		return ("connection limit reached for %s (%d streams)"):format(partner.domain or domain, partner.connection_limit);
	end

	-- Streams authenticated under this host's policy that count against the limit: the set of
	-- sessions, and how many there are besides `except`.
	local function party_streams(partner, domain, except)
		local counted, n = {}, 0;
		for _, s in ipairs(sessions.walk()) do
			local session = s.session;
			if not counted[session] and same_party(partner, domain, s.remote) then
				counted[session] = true;
				if session ~= except then n = n + 1; end
			end
		end
		return counted, n;
	end

	module:hook("s2s-authenticated", function (event)
		local session, domain = event.session, event.host;
		local partner = domain and policy.resolve(domain);
		if not partner or not partner.connection_limit then return; end
		local counted, n = party_streams(partner, domain, session);
		-- A stream already counted (another domain of the partner on it) adds nothing; one that
		-- authenticated other domains first is counted now.
		if counted[session] then return; end
		if n >= partner.connection_limit then
			refuse(session, domain, "connection_limit", limit_text(partner, domain));
			return false;
		end
	end, 990); -- after the method check (1000), before mod_s2s marks the stream authenticated (-1)

	-- After a policy change (reconcile.lib.lua): the streams beyond a limit that was lowered or
	-- added, as { session, remote, text }; the first streams found keep their place.
	local function over_limit()
		local counted, out = {}, {};
		for _, s in ipairs(sessions.walk()) do
			local partner = policy.resolve(s.remote);
			if partner and partner.connection_limit then
				local key = party(partner, s.remote);
				local c = counted[key];
				if not c then c = { n = 0 }; counted[key] = c; end
				if not c[s.session] then
					c[s.session], c.n = true, c.n + 1;
					if c.n > partner.connection_limit then
						out[#out + 1] = { session = s.session, remote = s.remote, text = limit_text(partner, s.remote) };
					end
				end
			end
		end
		return out;
	end

	module:hook("s2s-read-timeout", function (event)
		local session = event.session;
		local remote = session.direction == "outgoing" and session.to_host or session.from_host;
		local partner = remote and policy.resolve(remote);
		if partner and not partner.keepalive then
			session.log("debug", "Closing idle stream with %s (keepalive is off for it)", remote);
			session:close();
			return true;
		end
	end, 10); -- before mod_s2s's whitespace keepalive (-1)

	return { over_limit = over_limit };
end
