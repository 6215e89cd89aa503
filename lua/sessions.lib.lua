-- The s2s streams authenticated under this host's policy, and by which method, per remote domain
-- (README "Security model"). A record is made by this host's own s2s-authenticated check
-- (streams.lib.lua) and by nothing else: a stream, a dialback request or a SASL exchange that
-- another local host (a component, a VirtualHost without the module) authenticated has no
-- record here, so its stanzas never reach this host's users (delivery.lib.lua) and it never
-- carries this host's stanzas out (streams.lib.lua, route/remote).

-- The records live on the session (session.s2sp_auth[local host][remote domain] = method), so
-- they go with it and outlive a reload of this module; streams of this host are kept in a weak
-- set for the walk.
local host = module.host;
local streams = setmetatable({}, { __mode = "k" });

-- `tracked`: the weak set itself, for inspection (README "Reliability": no per-stream state
-- outlives its stream).
local sessions = { tracked = streams };

local on_record = {}; -- called with the session after each record made on it

--- Call `listener(session)` after every record (a verdict drawn from a stream's records holds
-- until the next one: delivery.lib.lua).
function sessions.on_record(listener)
	on_record[#on_record + 1] = listener;
end

--- Note that `domain` authenticated on `session` under this host's policy by `method`.
function sessions.record(session, domain, method)
	local auth = session.s2sp_auth;
	if not auth then auth = {}; session.s2sp_auth = auth; end
	local r = auth[host];
	if not r then r = {}; auth[host] = r; end
	r[domain] = method;
	streams[session] = true;
	for _, listener in ipairs(on_record) do listener(session); end
end

--- The method by which `domain` authenticated on `session` under this host's policy, or nil.
function sessions.method(session, domain)
	if session.destroyed then return nil; end
	local auth = session.s2sp_auth;
	local r = auth and auth[host];
	return r and r[domain];
end

local function records(session)
	local auth = session.s2sp_auth;
	return auth and auth[host];
end

--- Call `listener(session, remote)` for every domain authenticated on `session` under this
-- host's policy after each record made on it (the new one and those before: a listener that
-- keeps a set adds each once), unless the stream is already gone.
function sessions.on_domains(listener)
	sessions.on_record(function (session)
		local r = records(session);
		if session.destroyed or not r then return; end
		for remote in pairs(r) do listener(session, remote); end
	end);
end

--- The domains authenticated on `session` under this host's policy, as { [domain] = method }
-- (the session's own table: read it, never change it), or nil.
sessions.domains = records;

-- After a reload of this module, find the streams recorded by the previous instance.
for session in pairs(prosody.incoming_s2s) do
	if records(session) then streams[session] = true; end
end
for _, session in pairs(prosody.hosts[host] and prosody.hosts[host].s2sout or {}) do
	if records(session) then streams[session] = true; end
end

--- This host's authenticated streams that carry no record of this host's policy (they were
-- authenticated before the module was loaded, or by another local host's modules).
function sessions.unrecorded()
	local list = {};
	for session in pairs(prosody.incoming_s2s) do
		if session.type == "s2sin" and session.to_host == host and not records(session) then list[#list + 1] = session; end
	end
	for _, session in pairs(prosody.hosts[host] and prosody.hosts[host].s2sout or {}) do
		if session.type == "s2sout" and session.from_host == host and not records(session) then
			list[#list + 1] = session;
		end
	end
	return list;
end

--- The streams authenticated under this host's policy, as { session, remote, method } triples
-- (one per authenticated domain: dialback may authenticate several on one stream). A list, so
-- callers may close streams while walking it.
function sessions.walk()
	local list = {};
	for session in pairs(streams) do
		local r = records(session);
		if r and not session.destroyed then
			for remote, method in pairs(r) do
				list[#list + 1] = { session = session, remote = remote, method = method };
			end
		end
	end
	return list;
end

return sessions;
