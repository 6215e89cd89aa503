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

	local function pem_of(cert)
		local ok, pem = pcall(cert.pem, cert);
		if ok then return pem; end
	end

	-- s2s-check-certificate fires globally (mod_s2s is a global module): filter on our host.
	module:hook_global("s2s-check-certificate", function (event)
		local session, domain, cert = event.session, event.host, event.cert;
		if local_host(session) ~= module.host or not domain then return; end
		local partner = policy.resolve(domain);
		if not partner then return; end -- refused by the stream rules
		local pem = cert and pem_of(cert);
		if partner.pin then
			if not pem or not core.pin_match(pem, partner.pin) then
				refuse(session, domain, "pin_mismatch", ("the certificate of %s matches none of its pinned keys"):format(domain));
				return false; -- stops mod_s2s from going on with this stream
			end
		end
		if pem and session.cert_chain_status == "valid" then
			local ok, how = core.cert_identity(pem, domain);
			session.cert_identity_status = ok and "valid" or "invalid";
			session.log("debug", "Certificate identity of %s: %s (%s)", domain, session.cert_identity_status, tostring(how));
		end
	end, 500); -- after mod_s2s_auth_certs (509), before mod_s2s's auth policy (-1)

	local function peer_pem(session)
		local sock = session.secure and session.conn and session.conn:socket();
		local cert = sock and sock.getpeercertificate and sock:getpeercertificate();
		return cert and pem_of(cert);
	end

	-- Why `session` may not carry `domain` of `partner` given its pins, or nil when it may.
	local function pin_problem(session, partner, domain)
		if not partner.pin then return nil; end
		local pem = peer_pem(session);
		if pem and core.pin_match(pem, partner.pin) then return nil; end
		return ("%s has pinned keys, and this stream did not present a matching certificate%s"):format(domain,
			pem and "" or " (pins need TLS)");
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
