-- Stream establishment with partners, both directions (README "Negotiation matrix").
--
-- Earlier hooks shape what is offered (incoming) and attempted (outgoing) so that an allowed
-- method is the one negotiated, and refuse early where no allowed method can follow (so the
-- peer gets a clear stream error at once instead of a hanging dialback). The authoritative
-- check is at s2s-authenticated: the method actually used must be one the partner allows.

local st = require "util.stanza";
local nameprep = require "util.encodings".stringprep.nameprep;
local filters = require "util.filters";
local modulemanager = require "core.modulemanager";

local hosts = prosody.hosts;

local xmlns_stream = "http://etherx.jabber.org/streams";
local xmlns_tls = "urn:ietf:params:xml:ns:xmpp-tls";
local xmlns_sasl = "urn:ietf:params:xml:ns:xmpp-sasl";
local xmlns_dialback_feature = "urn:xmpp:features:dialback";
local xmlns_partners = "urn:xmpp:s2s-partners:0"; -- our own placeholder, never sent

-- The C core (loaded by mod_s2s_partners.lua) words refusals: core.refusal(partner, method,
-- domain) is why a partner's row does not allow a method (README "Negotiation results").
local core = require "s2s_partners";

-- The methods' labels by name ("SASL EXTERNAL over TLS", ...), from the C core.
local method_labels = {};
for _, method in ipairs(core.methods()) do method_labels[method.name] = method.label; end

-- The labels of the methods the partner allows, in the C core's order, as a sentence lists them.
local function allowed_list(partner)
	local labels = {};
	for i, m in ipairs(partner.methods) do labels[i] = method_labels[m]; end
	return table.concat(labels, ", ");
end

-- The dialback method a stream would use now.
local function dialback_method(session)
	return session.secure and "tls_dialback" or "tcp_dialback";
end

-- Did the peer's certificate chain verify and identify the remote domain (certs.lib.lua
-- decides the identity with the C core)?
local function cert_identifies(session)
	return session.cert_chain_status == "valid" and session.cert_identity_status == "valid";
end

local function unproven_reason(session)
	if session.cert_chain_status ~= "valid" then return "is not trusted"; end
	return "does not identify it";
end

local function remote_of(session)
	if session.direction == "outgoing" then return session.to_host; end
	return session.from_host;
end

return function (policy, metrics, refuse, note_refusal, sessions, hot)
	local allows = policy.allows;
	-- Incoming streams waiting for the authoritative server's answer about a dialback key,
	-- by "<domain>/<stream id>" (as in mod_dialback).
	local dialback_pending = setmetatable({}, { __mode = "v" });

	-- After a refusal inside s2s-stream-features. mod_s2s sends the features only when there are
	-- any; with none it logs "No stream features to offer, giving up" and closes the session a
	-- second time. The session is closed already (sends2s discards everything), so a placeholder
	-- keeps mod_s2s on its normal path; nothing reaches the peer.
	local function refused_features(features)
		if not features.tags[1] then
			features:tag("refused", { xmlns = xmlns_partners }):up();
		end
		return true;
	end

	-- Resolve the partner for `domain`; refuses the session when there is none.
	local function partner_or_refuse(session, domain)
		local partner, why = policy.resolve(domain);
		if not partner then
			refuse(session, domain, not policy.compiled and "config_invalid" or domain and "not_partner" or "anonymous", why);
		end
		return partner;
	end

	------------------------------------------------------------------------------------------
	-- Outgoing: stanzas to domains we may not federate with never leave; the sender is told.

	-- verified[route] = the domain it was found to have authenticated: records are never taken
	-- back (sessions.lib.lua), so that holds for the stream's life (README "Performance").
	local verified = setmetatable({}, { __mode = "k" });
	local host = module.host;
	local s2sout = hosts[host].s2sout; -- this host's outgoing routes, made once when it is activated

	-- The stream mod_s2s would write to must have authenticated that domain under this host's
	-- policy. Another one (a bidi stream on which another domain authenticated, XEP-0288; an
	-- outgoing stream another local host's modules authenticated) is closed, and mod_s2s then
	-- opens a new stream, negotiated under this policy. `route`: s2sout[to_host], not yet
	-- verified for it.
	local function check_route(route, to_host)
		if route.destroyed then return; end
		local t = route.type;
		if t ~= "s2sout" and t ~= "s2sin" then return; end
		if sessions.method(route, to_host) then
			verified[route] = to_host;
			return;
		end
		refuse(route, to_host, "unauthorised_route", ("this stream did not authenticate %s under the partner policy of %s")
			:format(to_host, module.host));
	end

	-- What the partner check keeps per destination domain under the policy in force:
	-- dests[domain] = hot.entry("outgoing", its partner) (the partner and its type's rules).
	-- Emptied when another policy is in force, and at DESTS_MAX domains (local users choose
	-- them); only partners, a refusal is worded anew.
	local DESTS_MAX = 4096;
	local dests, dests_n = {}, 0;
	policy.on_change(function () dests, dests_n = {}, 0; end);

	local function refuse_route(event, why)
		local stanza = event.stanza;
		metrics.bounced(policy.compiled and "not_partner" or "config_invalid");
		module:log("info", "Not routing %s from %s to %s: %s", stanza.name, stanza.attr.from or event.from_host,
			stanza.attr.to or event.to_host, why);
		local t = stanza.attr.type;
		if t ~= "error" and t ~= "result" and not stanza.attr.xmlns then
			module:send(st.error_reply(stanza, "cancel", "policy-violation", why));
		end
		return true;
	end

	function hot.route_check(event)
		local to_host = event.to_host;
		local dest = dests[to_host];
		if not dest then
			local partner, why = policy.resolve(to_host);
			if not partner then return refuse_route(event, why); end
			if dests_n >= DESTS_MAX then dests, dests_n = {}, 0; end
			dest, dests_n = hot.entry("outgoing", partner), dests_n + 1;
			dests[to_host] = dest;
		end
		local route = s2sout[to_host];
		if route and verified[route] ~= to_host then check_route(route, to_host); end
		local rule = dest[event.stanza.name]; -- the partner type's (replies, contacts)
		if rule then return rule(event, dest); end
		-- nil: on to mod_s2s (priority -1 / -10)
	end
	module:hook("route/remote", hot.route_check, 1000); -- before mod_s2s's route_to_existing_session
	-- (-1) and route_to_new_session (-10)

	module:hook("s2sout-created", function (event)
		local session = event.session;
		local partner = policy.resolve(session.to_host);
		if partner and partner.tls == "not_supported" then
			session.ssl_ctx = false; -- mod_tls's can_do_tls() is false: STARTTLS never started
		end
	end, 1000); -- before mod_tls (0) assigns the TLS context

	-- Received stream features, before mod_tls (500) decides about STARTTLS.
	module:hook_tag(xmlns_stream, "features", function (session, features)
		if session.type ~= "s2sout_unauthed" then return; end
		local domain = session.to_host;
		local partner = partner_or_refuse(session, domain);
		if not partner then return true; end
		local starttls = features:get_child("starttls", xmlns_tls);
		if partner.tls == "required" and not session.secure and not starttls then
			refuse(session, domain, "tls_required", domain .. " requires TLS but does not offer it");
			return true;
		elseif partner.tls == "not_supported" and starttls and starttls:get_child("required") then
			refuse(session, domain, "tls_not_supported", domain .. " insists on TLS, which is not supported with it");
			return true;
		end
	end, 600);

	-- Between mod_tls (500) and mod_saslauth (150): hide EXTERNAL when it may not be used.
	module:hook_tag(xmlns_stream, "features", function (session, features)
		if session.type ~= "s2sout_unauthed" then return; end
		local domain = session.to_host;
		local partner = policy.resolve(domain);
		if not partner then return; end -- refused above
		local mechanisms = features:get_child("mechanisms", xmlns_sasl);
		-- SASL EXTERNAL proves who we are, not who they are: only over a stream whose certificate
		-- identifies the partner (XEP-0178), else dialback where allowed.
		local peer_proven = cert_identifies(session);
		if not allows(partner, "sasl_tls") or (session.secure and not peer_proven) then
			if session.secure and not peer_proven and allows(partner, "sasl_tls")
				and not allows(partner, dialback_method(session)) then
				refuse(session, domain, "certificate", ("SASL EXTERNAL cannot be used: the certificate of %s %s, and %s"):format(
					domain, unproven_reason(session), core.refusal(partner, dialback_method(session), domain)));
				return true;
			end
			if mechanisms then
				features:maptags(function (tag)
					if tag.name == "mechanisms" and tag.attr.xmlns == xmlns_sasl then return nil; end
					return tag;
				end);
			end
			return;
		end
		if session.secure and not allows(partner, dialback_method(session)) then
			local external = false;
			for mech in (mechanisms and mechanisms:childtags("mechanism") or function () end) do
				if mech:get_text() == "EXTERNAL" then external = true; end
			end
			if not external then
				refuse(session, domain, "sasl_unavailable", domain .. " did not offer SASL EXTERNAL (does it trust our certificate?), "
					.. "and " .. core.refusal(partner, dialback_method(session), domain));
				return true;
			end
		end
	end, 200);

	-- Between mod_saslauth (150) and mod_dialback (100): dialback is about to start.
	module:hook_tag(xmlns_stream, "features", function (session, features)
		if session.type ~= "s2sout_unauthed" then return; end
		if session.external_auth and session.external_auth ~= "failed" then return; end
		local domain = session.to_host;
		local partner = policy.resolve(domain);
		if not partner then return; end
		local method = dialback_method(session);
		if not allows(partner, method) then
			refuse(session, domain, method, core.refusal(partner, method, domain));
			return true;
		end
		-- A peer that does not offer dialback answers an attempt with a bare not-authorized
		-- (ejabberd without mod_s2s_dialback does): say why here instead.
		if not features:get_child("dialback", xmlns_dialback_feature) then
			refuse(session, domain, "dialback_unavailable", ("%s does not offer dialback, and %s"):format(domain,
				allows(partner, "sasl_tls") and "SASL EXTERNAL could not be used" or ("SASL EXTERNAL is not allowed with " .. domain)));
			return true;
		end
	end, 120);

	-- SASL EXTERNAL failed: mod_dialback (100) would fall back to dialback.
	module:hook_tag(xmlns_sasl, "failure", function (session)
		if session.type ~= "s2sout_unauthed" or session.external_auth ~= "failed" then return; end
		local domain = session.to_host;
		local partner = policy.resolve(domain);
		local method = dialback_method(session);
		if partner and not allows(partner, method) then
			refuse(session, domain, "sasl_failed", ("SASL EXTERNAL with %s failed (%s), and %s"):format(domain,
				-- the peer's own <text/>: one line, printable, bounded, in our log and bounces
				tostring(session.external_auth_failure_reason):gsub("%c", " "):sub(1, 200), core.refusal(partner, method, domain)));
			return true;
		end
	end, 110);

	-- Pre-1.0 peers get dialback without features.
	module:hook("s2sout-authenticate-legacy", function (event)
		local session = event.origin;
		local domain = session.to_host;
		local partner = partner_or_refuse(session, domain);
		if not partner then return true; end
		local method = dialback_method(session);
		if not allows(partner, method) then
			refuse(session, domain, method, core.refusal(partner, method, domain));
			return true;
		end
	end, 300); -- before mod_tls (200) and mod_dialback (100)

	------------------------------------------------------------------------------------------
	-- Incoming: shape the features we offer.

	module:hook("s2s-stream-features", function (event)
		local origin = event.origin;
		if origin.type ~= "s2sin_unauthed" then return; end
		local domain = origin.from_host;
		if not domain then return; end -- anonymous until it says who it is: strictest offer below
		local partner = partner_or_refuse(origin, domain);
		if not partner then return refused_features(event.features); end
		if partner.tls == "not_supported" then
			origin.ssl_ctx = false; -- mod_tls neither offers nor accepts STARTTLS
		end
	end, 1000); -- before mod_tls, mod_saslauth and mod_dialback offer anything (0)

	local function without(features, name, xmlns)
		features:maptags(function (tag)
			if tag.name == name and tag.attr.xmlns == xmlns then return nil; end
			return tag;
		end);
	end

	local function require_tls(features)
		features:maptags(function (tag)
			if tag.name == "starttls" and tag.attr.xmlns == xmlns_tls then
				return st.stanza("starttls", { xmlns = xmlns_tls }):tag("required"):up();
			end
			return tag;
		end);
	end

	module:hook("s2s-stream-features", function (event)
		local origin, features = event.origin, event.features;
		if origin.type ~= "s2sin_unauthed" or origin.destroyed then return; end
		local domain = origin.from_host;
		local partner = domain and policy.resolve(domain);
		if not partner then
			-- Anonymous stream: TLS as required, no EXTERNAL (its identity cannot be checked).
			without(features, "mechanisms", xmlns_sasl);
			origin.external_auth = nil;
			if not origin.secure then
				require_tls(features);
				without(features, "dialback", xmlns_dialback_feature);
			end
			return;
		end
		if not origin.secure and partner.tls == "required" then
			-- Nothing but STARTTLS before TLS.
			require_tls(features);
			without(features, "mechanisms", xmlns_sasl);
			without(features, "dialback", xmlns_dialback_feature);
			origin.external_auth = nil;
		else
			if not allows(partner, "sasl_tls") then
				without(features, "mechanisms", xmlns_sasl);
				origin.external_auth = nil;
			end
			if not allows(partner, dialback_method(origin)) then
				without(features, "dialback", xmlns_dialback_feature);
			end
		end
		-- Other features (bidi, XEP-0288) authenticate nothing: without one of these the peer
		-- could only wait for the stream timeout.
		if not (features:get_child("starttls", xmlns_tls) or features:get_child("mechanisms", xmlns_sasl)
			or features:get_child("dialback", xmlns_dialback_feature)) then
			refuse(origin, domain, "no_method", ("no allowed authentication method is available to %s on this stream "
				.. "(allowed: %s%s)"):format(domain, allowed_list(partner),
				origin.secure and origin.cert_chain_status ~= "valid" and "; its certificate is not trusted" or ""));
			refused_features(features);
		end
	end, -1000); -- after every module has added its offer

	-- Incoming dialback request: check the claimed domain's policy before mod_dialback (0)
	-- verifies the key (that would open a stream to it).
	module:hook("stanza/jabber:server:dialback:result", function (event)
		local origin, stanza = event.origin, event.stanza;
		if origin.type ~= "s2sin_unauthed" and origin.type ~= "s2sin" then return; end
		local from = stanza.attr.from and nameprep(stanza.attr.from);
		if not from then return; end -- mod_dialback closes with improper-addressing
		local method = dialback_method(origin);
		if origin.type == "s2sin" then
			-- A stream already authenticated for another domain asks for this one too: refuse
			-- just this domain (XEP-0220 §2.4), the stream stays up for the others.
			local partner, why = policy.resolve(from);
			if not partner or not allows(partner, method) then
				local text = partner and core.refusal(partner, method, from) or why;
				note_refusal(origin, from, partner and method or "not_partner", text);
				origin.sends2s(st.stanza("db:result", { from = stanza.attr.to, to = stanza.attr.from, type = "error" })
					:tag("error", { type = "cancel" })
						:tag("policy-violation", { xmlns = "urn:ietf:params:xml:ns:xmpp-stanzas" }):up()
						:tag("text", { xmlns = "urn:ietf:params:xml:ns:xmpp-stanzas" }):text(text));
				return true;
			end
		end
		local partner = partner_or_refuse(origin, from);
		if not partner then return true; end
		if not allows(partner, method) then
			refuse(origin, from, method, core.refusal(partner, method, from));
			return true;
		end
		if origin.outgoing and origin.from_host and from ~= origin.from_host then
			-- XEP-0288: a bidi stream would carry our stanzas for the declared domain.
			refuse(origin, from, "bidi_mismatch", ("bidirectional stream declared %s but asked dialback for %s"):format(
				origin.from_host, from));
			return true;
		end
		if origin.streamid then dialback_pending[from .. "/" .. origin.streamid] = origin; end
	end, 1000);

	-- The authoritative server's answer about a key (on our outgoing stream to it). mod_dialback (0)
	-- would tell the incoming stream "invalid" and leave it open: a stream that claimed a domain
	-- it cannot prove gets that answer and is closed at once.
	module:hook("stanza/jabber:server:dialback:verify", function (event)
		local origin, attr = event.origin, event.stanza.attr;
		if origin.type ~= "s2sout_unauthed" and origin.type ~= "s2sout" then return; end
		local from = attr.from and nameprep(attr.from);
		local key = (from or "") .. "/" .. (attr.id or "");
		local incoming = dialback_pending[key];
		if not incoming or from ~= origin.to_host then return; end
		dialback_pending[key] = nil;
		if attr.type == "valid" or incoming.destroyed then return; end -- mod_dialback carries on
		local claimed = incoming.hosts and incoming.hosts[from];
		incoming.sends2s(st.stanza("db:result", { from = attr.to, to = from, id = attr.id, type = "invalid" })
			:text(claimed and claimed.dialback_key or ""));
		refuse(incoming, from, "dialback_invalid", ("%s could not prove its identity: the authoritative server of %s "
			.. "did not confirm the dialback key"):format(from, from));
		return true;
	end, 1000); -- before mod_dialback (0), which answers the incoming stream

	-- Incoming SASL EXTERNAL: only where the partner allows it and the stream said who it is.
	module:hook("stanza/urn:ietf:params:xml:ns:xmpp-sasl:auth", function (event)
		local origin = event.origin;
		if origin.type ~= "s2sin_unauthed" then return; end
		local domain = origin.from_host;
		local partner = partner_or_refuse(origin, domain);
		if not partner then return true; end
		if not allows(partner, "sasl_tls") then
			refuse(origin, domain, "sasl_tls", core.refusal(partner, "sasl_tls", domain));
			return true;
		end
		if not origin.secure then
			refuse(origin, domain, "sasl_without_tls", "SASL EXTERNAL attempted by " .. domain .. " without TLS");
			return true;
		end
		if origin.external_auth ~= "offered" then
			-- mod_saslauth offers EXTERNAL only for a valid certificate of that domain; it would
			-- ignore the request and leave the stream hanging.
			refuse(origin, domain, "sasl_not_offered", ("SASL EXTERNAL attempted by %s, but its certificate is not valid for it "
				.. "(chain: %s, identity: %s)"):format(domain, tostring(origin.cert_chain_status),
				tostring(origin.cert_identity_status)));
			return true;
		end
	end, 1000); -- before mod_saslauth (0)

	-- Stanzas on a stream that has not authenticated: refuse the stream (nothing is routed).
	local function before_auth(event)
		local origin = event.origin;
		if origin.type == "s2sin_unauthed" or origin.type == "s2sout_unauthed" then
			refuse(origin, remote_of(origin), "unauthenticated_stanza", "stanza sent before authentication");
			return true;
		end
	end
	for _, name in ipairs({ "message", "presence", "iq" }) do
		module:hook("stanza/" .. name, before_auth, 1000);
	end
	-- Stanzas to a user's JID on an unauthenticated stream fire no host event (the router looks
	-- up hosts[to]): catch every stanza as it comes off the stream. mod_s2s fires s2s-created
	-- globally, before the stream's host is known; the instance of the stream's host decides.
	local stanza_names = { message = true, presence = true, iq = true };
	-- Stream negotiation elements: Prosody hands them to hosts[element.to or the stream's host],
	-- so one addressed to another local host would be negotiated by that host's modules on this
	-- host's stream (an outgoing SASL success "to" a component, a dialback request for it).
	local negotiation_ns = {
		[xmlns_stream] = true, [xmlns_tls] = true, [xmlns_sasl] = true,
		["jabber:server:dialback"] = true, ["urn:xmpp:bidi"] = true, ["urn:xmpp:features:bidi"] = true,
	};
	local function stanza_filter(stanza, session)
		local xmlns, t = stanza.attr.xmlns, session.type;
		-- A stanza (no namespace of its own) on an authenticated stream: nothing below applies.
		if xmlns == nil and t ~= "s2sin_unauthed" and t ~= "s2sout_unauthed" then return stanza; end
		if not modulemanager.is_loaded(module.host, module.name) then return stanza; end -- filters outlive an unload
		local local_host = session.direction == "outgoing" and session.from_host or session.to_host;
		if local_host ~= module.host then return stanza; end
		local to = stanza.attr.to;
		if xmlns ~= nil and to ~= nil and negotiation_ns[xmlns] and nameprep(to) ~= module.host then
			refuse(session, remote_of(session), "misaddressed", ("stream negotiation addressed to %s on a stream with %s")
				:format(to, module.host));
			return nil;
		end
		if session.type ~= "s2sin_unauthed" and session.type ~= "s2sout_unauthed" then return stanza; end
		if xmlns ~= nil or not stanza_names[stanza.name] then return stanza; end
		refuse(session, remote_of(session), "unauthenticated_stanza", "stanza sent before authentication");
		return nil; -- dropped: never routed
	end
	module:hook_global("s2s-created", function (event)
		local session = event.session;
		if session.filter then
			filters.add_filter(session, "stanzas/in", stanza_filter, 1000);
		end
	end);

	------------------------------------------------------------------------------------------
	-- The authoritative check, both directions.

	-- Only the two mechanisms this policy knows decide anything; another auth module (or a
	-- future Prosody mechanism) is refused rather than taken for dialback.
	local mechanism_methods = {
		EXTERNAL = function () return "sasl_tls"; end;
		dialback = dialback_method;
	};

	-- mod_dialback fires s2s-authenticated for a claimant whose stream closed while its
	-- authoritative server was answering (XEP-0220 §2.1.3, the answer comes when it comes): a
	-- stream that is gone authenticates nothing, and no check (pins, method, connection_limit)
	-- may refuse, count or record it (README "Reliability").
	module:hook("s2s-authenticated", function (event)
		if event.session.destroyed then return false; end
	end, 1020); -- before the pin check (certs.lib.lua, 1010)

	module:hook("s2s-authenticated", function (event)
		local session, domain, mechanism = event.session, event.host, event.mechanism;
		local method_of = mechanism_methods[mechanism];
		if not method_of then
			refuse(session, domain, "mechanism", ("authentication by %s is not a method partner policy allows"):format(
				tostring(mechanism)));
			return false;
		end
		local method = method_of(session);
		local partner = partner_or_refuse(session, domain);
		if not partner then return false; end
		if method == "sasl_tls" and not session.secure then
			refuse(session, domain, "sasl_tls", "SASL EXTERNAL without TLS");
			return false;
		end
		if method == "sasl_tls" and not cert_identifies(session) then
			refuse(session, domain, "certificate", ("SASL EXTERNAL, but the certificate of %s %s"):format(domain,
				unproven_reason(session)));
			return false;
		end
		if not allows(partner, method) then
			refuse(session, domain, method, core.refusal(partner, method, domain));
			return false;
		end
		-- A bidi stream (XEP-0288) becomes the route for our stanzas to the domain its header
		-- declared: that domain, and no other, must be the one that authenticates on it.
		if session.direction == "incoming" and session.outgoing and session.from_host and domain ~= session.from_host then
			refuse(session, domain, "bidi_mismatch", ("bidirectional stream declared %s but authenticated %s"):format(
				session.from_host, domain));
			return false;
		end
		event.s2sp_method, event.s2sp_partner = method, partner;
	end, 1000); -- before mod_s2s's make_authenticated (-1): returning false stops it

	-- Every check passed (pins at 1010, this at 1000, limits at 990): record the domain as
	-- authenticated under this host's policy. mod_s2s (-1) stops the event, so this runs above it.
	module:hook("s2s-authenticated", function (event)
		local session, domain, method, partner = event.session, event.host, event.s2sp_method, event.s2sp_partner;
		if not method or session.destroyed then return; end
		sessions.record(session, domain, method);
		metrics.accepted(session.direction, method, partner);
		session.log("info", "Partner %s (%s) authenticated %s by %s", domain, partner.domain or "default policy",
			session.direction, method_labels[method]);
	end, 10);

	-- For inspection (README "Reliability": no per-stream state outlives its stream).
	return { dialback_pending = dialback_pending };
end
