-- The certificate facts of a probed server (README "Probe"), from the PEM it presented and the
-- chain verification LuaSec did against this host's trust store: chain, identity for every
-- domain of the partner (C core, RFC 6125 / XEP-0178), validity, key usage, SPKI and pins.
-- Plain Lua over the C core: no Prosody, no network (spec/unit/verdict_spec.lua loads it).

local DAY = 86400;
local MAX_ERRORS = 8; -- chain errors kept (per certificate depth, flattened)

--- Flatten LuaSec's getpeerverification() errors ({ [depth] = { "text", … } }, or a string)
-- into a short list of strings, depth 0 first.
local function chain_errors(errors)
	local list = {};
	if type(errors) == "string" then return { errors }; end
	if type(errors) ~= "table" then return list; end
	local depths = {};
	for depth in pairs(errors) do if math.type(depth) == "integer" then depths[#depths + 1] = depth; end end
	table.sort(depths);
	for _, depth in ipairs(depths) do
		local at = errors[depth];
		for _, e in ipairs(type(at) == "table" and at or { at }) do
			if #list < MAX_ERRORS then list[#list + 1] = tostring(e):sub(1, 200); end
		end
	end
	return list;
end

return function (core)
	--- facts(pem, chain_ok, errors, domains, pins, now) -> { chain, chain_errors, identity =
	-- { { domain, ok, how } }, subject, issuer, names, not_after, days_left, expired, key_usage,
	-- ext_key_usage, server_auth, client_auth, spki_sha256, pin = "match" | "mismatch" | nil }
	-- or nil, reason when the certificate cannot be read.
	return function (pem, chain_ok, errors, domains, pins, now)
		local info, err = core.cert_info(pem);
		if not info then return nil, err; end
		local facts = {
			chain = chain_ok and "valid" or "invalid", chain_errors = chain_errors(errors),
			subject = info.subject, issuer = info.issuer, names = info.names, spki_sha256 = info.spki_sha256,
			not_after = info.not_after, identity = {},
		};
		if info.not_after then facts.days_left = math.floor((info.not_after - now) / DAY); end
		facts.expired = core.cert_expired(pem, now) == true;
		for i, domain in ipairs(domains) do
			local ok, how = core.cert_identity(pem, domain);
			facts.identity[i] = { domain = domain, ok = ok == true, how = ok and how or nil };
		end
		local usage = core.cert_usage(pem);
		if usage then
			facts.key_usage, facts.ext_key_usage = usage.key_usage, usage.ext_key_usage;
			facts.server_auth, facts.client_auth = usage.server_auth, usage.client_auth;
		end
		if pins then facts.pin = core.pin_match(pem, pins) and "match" or "mismatch"; end
		return facts;
	end, chain_errors;
end
