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

	local function limit_text(partner, domain)
		return ("connection limit reached for %s (%d streams)"):format(partner.domain or domain, partner.connection_limit);
	end

	-- The streams authenticated under this host's policy that count against each limit now
	-- (README "Performance", many streams: an authentication looks at its own party's streams,
	-- not at every stream): members[party] = { [session] = true } for the parties of partners
	-- with a connection_limit, and parties_of[session] = { [party] = true }. Kept from
	-- sessions.lib.lua's records (which only a stream's end takes away) and s2s-destroyed;
	-- rebuilt when the policy changes, which may move a domain to another party or limit.
	local function weak() return setmetatable({}, { __mode = "k" }); end
	local members, parties_of = {}, weak();

	local function join(session, remote)
		local partner = policy.resolve(remote);
		if not (partner and partner.connection_limit) then return; end
		local key = party(partner, remote);
		local set = members[key];
		if not set then set = {}; members[key] = set; end
		set[session] = true;
		local keys = parties_of[session];
		if not keys then keys = {}; parties_of[session] = keys; end
		keys[key] = true;
	end

	local function leave(session)
		local keys = parties_of[session];
		if not keys then return; end
		parties_of[session] = nil;
		for key in pairs(keys) do
			local set = members[key];
			if set then
				set[session] = nil;
				if next(set) == nil then members[key] = nil; end
			end
		end
	end

	local function rebuild()
		members, parties_of = {}, weak();
		for _, s in ipairs(sessions.walk()) do join(s.session, s.remote); end
	end

	sessions.on_domains(join);
	module:hook_global("s2s-destroyed", function (event) leave(event.session); end);
	policy.on_change(rebuild);
	rebuild();

	-- The streams that count against the limit of `partner` for `domain`: the set of sessions,
	-- and how many there are besides `except`.
	local function party_streams(partner, domain, except)
		local set, n = members[party(partner, domain)] or {}, 0;
		for session in pairs(set) do
			if session ~= except and not session.destroyed then n = n + 1; end
		end
		return set, n;
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
