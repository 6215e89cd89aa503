-- Differences between the Prosody versions the module supports, 0.12.x and 13.0.x, in one place.
--
-- Nothing here touches `module` or `prosody` when the file is loaded: it is plain Lua, so
-- spec/unit/compat_spec.lua loads it with dofile(). Everything the plugin relies on (the s2s,
-- TLS, SASL and dialback events and their priorities, session fields such as
-- external_auth / cert_chain_status / ssl_ctx, rostermanager, util.error, module:metric) is the
-- same in both; see README.md "Compatibility". What differs and has a helper here:
--   version check            compat.check_version(prosody.version) (mod_s2s_partners.lua)
--   library names            13 has prosody.util.x (util.x is an alias); 0.12 only util.x
--   peer certificate         13: conn:ssl_peercertificate(); 0.12: conn:socket():getpeercertificate()
--   cert_chain_errors        0.12: a table per depth; 13: that, or a single string
--   TLS protocol version     13: conn:ssl_info(); 0.12: conn:socket():info()

local compat = {};

-- Release series the module supports, as compat.series() spells them.
compat.supported = { "0.12", "13.0" };

--- The release series of a Prosody version string: "0.12.3" → "0.12", "13.0.1" → "13.0",
-- "13.0" → "13.0", "13.0 nightly build 7" → "13.0". nil for anything that does not start with a
-- release number ("hg:…" and "unknown" from source checkouts, "13.0rc1", nil).
function compat.series(version)
	if type(version) ~= "string" then return nil; end
	local major, minor, rest = version:match("^(%d+)%.(%d+)(.*)$");
	if not major then return nil; end
	if rest ~= "" and not rest:match("^%.%d") and not rest:match("^%s") then return nil; end
	return ("%d.%d"):format(tonumber(major), tonumber(minor));
end

--- Is this Prosody version supported? Returns its series ("0.12" / "13.0"), or nil and the
-- message the module refuses to load with.
function compat.check_version(version)
	local series = compat.series(version);
	for _, s in ipairs(compat.supported) do
		if series == s then return series; end
	end
	local shown = type(version) == "string" and version ~= "" and version or "an unknown version";
	return nil, ("mod_s2s_partners supports Prosody 0.12 and 13.0, not %s"):format(shown);
end

--- True when running on Prosody 13 or later (`version` defaults to prosody.version).
function compat.is_13(version)
	local series = compat.series(version or (prosody and prosody.version));
	return series ~= nil and tonumber(series:match("^%d+")) >= 13;
end

--- require() a Prosody library by its 0.12 name ("util.stanza", "core.rostermanager"): on 13
-- as "prosody.<name>", so the plugin shares Prosody's own instance of it.
function compat.require(name, version)
	if compat.is_13(version) then
		local ok, lib = pcall(require, "prosody." .. name);
		if ok then return lib; end
	end
	return require(name);
end

--- The peer's certificate (a LuaSec x509 object) on a TLS session, or nil.
function compat.peer_certificate(session)
	local conn = session and session.conn;
	if not conn then return nil; end
	if conn.ssl_peercertificate then -- 13 (net.server_epoll / server_event / server_select)
		local cert = conn:ssl_peercertificate();
		return cert or nil;
	end
	local sock = conn.socket and conn:socket(); -- 0.12 (still there in 13)
	if sock and sock.getpeercertificate then
		return sock:getpeercertificate() or nil;
	end
	return nil;
end

--- The TLS protocol version of a session's connection ("TLSv1.3"), or nil without TLS.
function compat.tls_protocol(session)
	local conn = session and session.secure and session.conn;
	if not conn then return nil; end
	local info;
	if conn.ssl_info then -- 13
		info = conn:ssl_info();
	else
		local sock = conn.socket and conn:socket(); -- 0.12: the LuaSec socket
		info = sock and sock.info and sock:info();
	end
	return type(info) == "table" and info.protocol or nil;
end

--- session.cert_chain_errors as one flat list of strings (depth 0 first). 0.12 and 13 store a
-- table of per-depth lists; 13 may store a single string instead.
function compat.chain_errors(session)
	local errors = session and session.cert_chain_errors;
	local list = {};
	if type(errors) == "string" then
		list[1] = errors;
	elseif type(errors) == "table" then
		local depths = {};
		for depth in pairs(errors) do
			if type(depth) == "number" then depths[#depths + 1] = depth; end
		end
		table.sort(depths);
		for _, depth in ipairs(depths) do
			local at = errors[depth];
			if type(at) == "table" then
				for _, e in ipairs(at) do list[#list + 1] = tostring(e); end
			elseif at ~= nil then
				list[#list + 1] = tostring(at);
			end
		end
	end
	return list;
end

return compat;
