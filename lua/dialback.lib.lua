-- Dialback keys (XEP-0220 / XEP-0185) from the C core for this host's streams: the key is
-- hex(HMAC-SHA256(hex(SHA-256(secret)), receiving .. " " .. originating .. " " .. stream id)), the
-- same construction as Prosody's mod_dialback, and keys are checked in constant time.
--
-- mod_dialback stays loaded (it handles requests from peers and the authoritative answers); this
-- file takes over the two places where this host's own keys are made and checked: initiating
-- dialback on an outgoing stream, and answering a peer's db:verify for a key we issued. Both use
-- the same secret, so they always agree; peers only relay keys, so stock servers interoperate.

local st = require "util.stanza";
local uuid = require "util.uuid";

local xmlns_stream = "http://etherx.jabber.org/streams";
local xmlns_sasl = "urn:ietf:params:xml:ns:xmpp-sasl";

-- The secret configured (Prosody's own option, so a cluster shares it exactly as mod_dialback's
-- would be shared), a random one when unset, or nil, why it cannot be used: the value as written,
-- not get_option_string's conversion of it, by policy.lib.lua's rule (README "Options"); the
-- policy refuses all s2s traffic of the host while it is broken.
return function (core, policy)
	local function configured_secret()
		local value = module:get_option("dialback_secret");
		if value == nil then return uuid.generate() .. uuid.generate(); end
		local problem = policy.secret_problem(value);
		if problem then return nil, problem; end
		return value;
	end

	local secret, problem = configured_secret(); -- nil: no keys are made or confirmed
	if not secret then
		module:log("error", "Invalid dialback_secret: %s; this host makes and confirms no dialback keys until "
			.. "it is fixed", problem);
	end

	function module.save() return { dialback_secret = secret }; end
	function module.restore(state) secret = state.dialback_secret or secret; end

	-- A secret fixed in the config takes effect at the reload that also lets policy.lib.lua open
	-- federation again; a usable secret is kept, as mod_dialback keeps its own.
	module:hook_global("config-reloaded", function ()
		if secret then return; end
		secret = configured_secret();
		if secret then module:log("info", "dialback_secret is usable again"); end
	end);

	local function initiate(session)
		if not secret then -- policy.lib.lua refuses these streams first; never send a key made without one
			session:close({ condition = "internal-server-error", text = "dialback is not available" });
			return true;
		end
		local key = core.dialback_key(secret, session.to_host, session.from_host, session.streamid);
		session.dialback_key = key;
		session.sends2s(st.stanza("db:result", { from = session.from_host, to = session.to_host }):text(key));
		session.log("debug", "sent dialback key on outgoing s2s stream (s2s_partners)");
		return true;
	end

	-- The points where mod_dialback (100) would initiate; just above it, after the partner checks.
	module:hook_tag(xmlns_stream, "features", function (session)
		if session.type ~= "s2sout_unauthed" then return; end
		if not session.external_auth or session.external_auth == "failed" then
			return initiate(session);
		end
	end, 101);

	module:hook_tag(xmlns_sasl, "failure", function (session)
		if session.type == "s2sout_unauthed" and session.external_auth == "failed" then
			return initiate(session);
		end
	end, 101);

	module:hook("s2sout-authenticate-legacy", function (event)
		return initiate(event.origin);
	end, 101);

	-- A peer asks whether a key it received from this host is ours (fires on this host: it is
	-- the stanza's 'to').
	module:hook("stanza/jabber:server:dialback:verify", function (event)
		local origin, stanza = event.origin, event.stanza;
		if origin.type ~= "s2sin_unauthed" and origin.type ~= "s2sin" then return; end
		local attr = stanza.attr;
		if attr.type or attr.to ~= module.host or not attr.from or not attr.id then return; end -- mod_dialback's case
		local valid = secret ~= nil and core.dialback_verify(secret, attr.from, attr.to, attr.id, stanza:get_text() or "");
		if not valid then
			origin.log("warn", "Asked to verify a dialback key that was incorrect. An imposter is claiming to be %s?", attr.to);
		end
		origin.sends2s(st.stanza("db:verify", { from = attr.to, to = attr.from, id = attr.id,
			type = valid and "valid" or "invalid" }):text(stanza:get_text()));
		return true;
	end, 1); -- before mod_dialback (0)
end
