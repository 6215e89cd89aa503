-- Per-partner status (README "Status"): the streams up now and the last attempts of each
-- partner, what an admin looks at first when a partner says "we cannot reach you".
--
-- status.report([domain]) returns plain data (statusdata.lib.lua builds it); the prosodyctl shell
-- and the ad-hoc command render it. Attempts are recorded from:
--   refusals          refuse.lib.lua fires "s2s-partners/refused" for every one it logs
--   accepted streams  s2s-authenticated, once streams.lib.lua recorded the domain (priority 10)
--   failed / closed   s2s-destroyed: an outgoing stream of a partner that ended before it
--                     authenticated (the connection failed, or the peer refused us), or any
--                     stream of a partner that the peer ended with an error
-- Nothing here keeps a session: only copies of its fields.

local nameprep = require "util.encodings".stringprep.nameprep;

local data = module:require("statusdata");

return function (policy, sessions, compat)
	local host = module.host;
	local store = data.store();
	local status = {};

	local function local_host(session)
		if session.direction == "outgoing" then return session.from_host; end
		return session.to_host;
	end

	local function remote_of(session)
		if session.direction == "outgoing" then return session.to_host; end
		return session.from_host;
	end

	local function add(partner, session, remote, fields)
		fields.time, fields.direction, fields.remote = os.time(), session.direction, remote;
		store:add(partner, data.attempt(fields));
	end

	module:hook("s2s-partners/refused", function (event)
		add(event.partner, event.session, event.domain, { outcome = "refused", reason = event.reason, text = event.text });
	end);

	-- When each domain authenticated on a stream (session.s2sp_since[local host][domain]): on the
	-- session, like sessions.lib.lua's records, so it outlives a reload of this module.
	local function since_of(session, domain)
		local since = session.s2sp_since;
		local mine = since and since[host];
		return mine and mine[domain];
	end

	module:hook("s2s-authenticated", function (event)
		local session, domain, method = event.session, event.host, event.s2sp_method;
		if not method or sessions.method(session, domain) ~= method then return; end -- refused, or not ours
		local since = session.s2sp_since;
		if not since then since = {}; session.s2sp_since = since; end
		since[host] = since[host] or {};
		since[host][domain] = os.time();
		add(event.s2sp_partner, session, domain, { outcome = "accepted", method = method });
	end, 5); -- after streams.lib.lua's record (10), before mod_s2s marks the stream authenticated (-1)

	-- mod_s2s ends a stream on the peer's stream error with session:close(nil, "<condition> (<text>)"),
	-- on its SASL failure or TLS failure with session:close(nil, <what the peer said>): the first
	-- argument nil (we send no error), the second what came from the peer. Note it on the session
	-- for s2s-destroyed. The wrapper keeps no reference to this module, so it may outlive it.
	module:hook_global("s2s-created", function (event)
		local session = event.session;
		local close = session.close;
		if type(close) ~= "function" or session.s2sp_close_noted then return; end
		session.s2sp_close_noted = true;
		session.close = function (s, reason, remote_reason, ...)
			if reason == nil and remote_reason ~= nil and s.s2sp_peer_error == nil then
				s.s2sp_peer_error = remote_reason;
			end
			return close(s, reason, remote_reason, ...);
		end;
	end);

	local function failure_text(reason)
		if type(reason) == "table" then return reason.text or reason.condition; end
		if type(reason) == "string" then return reason; end
		return "the stream ended before it authenticated";
	end

	module:hook_global("s2s-destroyed", function (event)
		local session = event.session;
		if local_host(session) ~= host or session.s2sp_refused then return; end -- not ours, or refused (recorded)
		local remote = remote_of(session);
		local partner = remote and policy.resolve(remote);
		if not partner then return; end
		local peer_error = data.peer_error(session.s2sp_peer_error);
		if sessions.method(session, remote) then -- authenticated: only an error from the peer is news
			if peer_error then add(partner, session, remote, { outcome = "closed", peer_error = peer_error }); end
		elseif session.direction == "outgoing" or peer_error then
			add(partner, session, remote, { outcome = "failed", peer_error = peer_error,
				text = not peer_error and failure_text(event.reason) or nil });
		end
	end);

	policy.on_change(function (compiled)
		store:retain(function (domain) return policy.is_primary(compiled, domain); end, compiled:default());
	end);

	--- The status of every partner, or of the one owning `domain` (any spelling).
	function status.report(domain)
		local compiled = policy.compiled;
		local streams = {};
		for _, s in ipairs(sessions.walk()) do
			local session = s.session;
			streams[#streams + 1] = {
				partner = compiled and compiled:resolve(s.remote), direction = session.direction, remote = s.remote,
				method = s.method, tls = compat.tls_protocol(session), cert_chain = session.cert_chain_status,
				cert_identity = session.cert_identity_status, since = since_of(session, s.remote),
			};
		end
		local filter;
		if domain ~= nil then
			local given = type(domain) == "string" and domain or nil;
			filter = { owner = compiled and given and compiled:resolve(given) or false,
				domain = given and nameprep((given:gsub("%.$", ""))) }; -- as Prosody spells a stream's domain
		end
		local report = data.report(store, compiled and compiled:partners() or {}, compiled and compiled:default(), streams,
			filter, not compiled and policy.error or nil);
		if status.last_probe then -- set by probe.lib.lua (README "Probe")
			for _, entry in ipairs(report.partners) do entry.last_probe = status.last_probe(entry); end
			if report.default then report.default.last_probe = status.last_probe(report.default); end
		end
		return report;
	end

	return status;
end
