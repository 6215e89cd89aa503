-- Certificates of partner streams: identity by the C core (RFC 6125 / RFC 6120 §13.7 /
-- XEP-0178: DNS-ID with wildcard rules, SRV-ID, XmppAddr; CN only without SANs) and optional
-- per-partner public key pins (SHA-256 of the SPKI).
--
-- mod_s2s_auth_certs (global, priority 509) checks the chain with LuaSec and the identity with
-- util.x509; for partner streams we decide the identity ourselves, so that SASL EXTERNAL is
-- offered / accepted only when the certificate really identifies the partner domain, and a
-- pinned partner whose key matches no pin is refused whatever the CA says.

return function (core, policy, refuse)
	local function local_host(session)
		if session.direction == "outgoing" then return session.from_host; end
		return session.to_host or session.host;
	end

	-- What the C core takes for a peer certificate: LuaSec's certificate object as it is (no PEM
	-- text to parse again: OpenSSL 3 spends ~200 µs decoding a certificate, README "Performance",
	-- many streams), anything else by its PEM text; nil when there is none.
	local function cert_arg(cert)
		if not cert then return nil; end
		local mt = getmetatable(cert);
		if type(mt) == "table" and mt.__name == "SSL:Certificate" then return cert; end
		local ok, pem = pcall(cert.pem, cert);
		if ok then return pem; end
	end

	-- s2s-check-certificate fires globally (mod_s2s is a global module): filter on our host.
	module:hook_global("s2s-check-certificate", function (event)
		local session, domain = event.session, event.host;
		if local_host(session) ~= module.host or not domain then return; end
		local partner = policy.resolve(domain);
		if not partner then return; end -- refused by the stream rules
		local cert = cert_arg(event.cert);
		if partner.pin then
			if not cert or not core.pin_match(cert, partner.pin) then
				refuse(session, domain, "pin_mismatch", ("the certificate of %s matches none of its pinned keys"):format(domain));
				return false; -- stops mod_s2s from going on with this stream
			end
		end
		if cert and session.cert_chain_status == "valid" then
			local ok, how = core.cert_identity(cert, domain);
			session.cert_identity_status = ok and "valid" or "invalid";
			session.log("debug", "Certificate identity of %s: %s (%s)", domain, session.cert_identity_status, tostring(how));
		end
	end, 500); -- after mod_s2s_auth_certs (509), before mod_s2s's auth policy (-1)

	local function peer_cert(session)
		local sock = session.secure and session.conn and session.conn:socket();
		return cert_arg(sock and sock.getpeercertificate and sock:getpeercertificate() or nil);
	end

	-- Why `session` may not carry `domain` of `partner` given its pins, or nil when it may.
	local function pin_problem(session, partner, domain)
		if not partner.pin then return nil; end
		local cert = peer_cert(session);
		if cert and core.pin_match(cert, partner.pin) then return nil; end
		return ("%s has pinned keys, and this stream did not present a matching certificate%s"):format(domain,
			cert and "" or " (pins need TLS)");
	end

	-- A pinned partner must present a matching key on the stream it authenticates (checked
	-- again here: one stream may authenticate several domains with dialback).
	module:hook("s2s-authenticated", function (event)
		local session, domain = event.session, event.host;
		local partner = domain and policy.resolve(domain);
		local problem = partner and pin_problem(session, partner, domain);
		if problem then
			refuse(session, domain, "pin_mismatch", problem);
			return false;
		end
	end, 1010); -- before the method check in streams.lib.lua (1000)

	return { pin_problem = pin_problem }; -- for reconcile.lib.lua: pins added or changed at runtime
end
