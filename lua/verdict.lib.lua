-- The probe's verdict (README "Probe"): a pure function of the partner's rule and the probe's
-- facts. Which of the methods the rule allows (README "Negotiation matrix") can succeed on an
-- outgoing stream, which one this host would use, what the partner's server is offered when it
-- connects to us (explain.lib.lua's result), and, when nothing can work, what to change.
-- Plain Lua over the C core's method labels and refusal texts: spec/unit/verdict_spec.lua.

local EXPIRY_WARNING_DAYS = 30;

local function list_text(list)
	return list and #list > 0 and table.concat(list, ", ") or "none";
end

return function (core)
	local labels = {};
	for _, m in ipairs(core.methods()) do labels[#labels + 1] = m; end

	-- The facts of the connection that answered (the last address tried).
	local function answered(facts)
		local last = facts.attempts and facts.attempts[#facts.attempts];
		return last and last.connected and last or nil;
	end

	local function identity_of(cert, domain)
		for _, id in ipairs(cert and cert.identity or {}) do
			if id.domain == domain then return id; end
		end
	end

	-- Why the certificate cannot authenticate `domain` by SASL EXTERNAL (RFC 6120 §13.7.1.2,
	-- XEP-0178), and the fix; nil when it can.
	local function cert_problem(cert, domain, cert_error)
		if not cert then
			return "no certificate could be read" .. (cert_error and (" (" .. cert_error .. ")") or ""),
				"ask the partner to present a certificate for " .. domain;
		end
		if cert.expired then
			return ("its certificate expired %d days ago"):format(-(cert.days_left or 0)),
				"ask the partner to renew its certificate";
		end
		if cert.chain ~= "valid" then
			return ("its certificate is not trusted by this host (%s)"):format(list_text(cert.chain_errors)),
				"ask the partner for a certificate from a CA this host trusts, or add its CA to this host's ssl cafile";
		end
		local id = identity_of(cert, domain);
		if not (id and id.ok) then
			return ("its certificate does not name %s (it names %s)"):format(domain, list_text(cert.names)),
				"ask the partner for a certificate that names " .. domain;
		end
	end

	local function pin_problem(partner, cert)
		if not partner.pin then return nil; end
		if cert and cert.pin == "match" then return nil; end
		local key = cert and cert.spki_sha256;
		return "its key matches none of the partner's pins" .. (key and (" (SPKI SHA-256 " .. key .. ")") or ""),
			key and ("if the partner changed its key, set pin = \"" .. key .. "\"; otherwise ask the partner")
				or "pins need TLS: ask the partner to enable TLS";
	end

	-- Can `name` succeed outgoing? Returns possible, why (a sentence), fix (when not).
	local function method_outcome(name, partner, facts, conn)
		local before, after, tls = conn.before_tls, conn.after_tls, conn.tls;
		if name == "tcp_dialback" then
			if not before then return false, "the server only speaks direct TLS", "allow TLS (tls = optional)"; end
			if before.starttls_required then
				return false, "the server requires STARTTLS", "set tls = optional or required (the server requires TLS)";
			end
			if partner.tls ~= "not_supported" and before.starttls then
				return false, "not used: the server offers STARTTLS, so this host uses TLS", nil;
			end
			if not before.dialback then
				return false, "the server does not offer dialback without TLS",
					"ask the partner to enable dialback, or allow TLS (tls = optional)";
			end
			return true, "dialback offered without TLS (not attempted: it needs the server to call this host back)";
		end
		if not (tls and tls.ok and after) then
			if before and not before.starttls and not conn.direct_tls then
				if partner.tls == "required" then
					return false, "the server does not offer STARTTLS",
						"tls = required but the server does not offer STARTTLS: set tls = optional or ask the partner to enable TLS";
				end
				return false, "the server does not offer STARTTLS", "ask the partner to enable TLS";
			end
			if partner.tls == "not_supported" then return false, "not used: tls = not_supported", nil; end
			local why = "TLS could not be established" .. (tls and tls.error and (": " .. tls.error) or
				(conn.error and (": " .. conn.error) or ""));
			return false, why, "ask the partner to check its TLS setup";
		end
		if partner.tls == "not_supported" then return false, "not used: tls = not_supported", nil; end
		local pin_why, pin_fix = pin_problem(partner, conn.cert);
		if pin_why then return false, pin_why, pin_fix; end
		if name == "tls_dialback" then
			if not after.dialback then
				return false, "the server does not offer dialback after TLS",
					"ask the partner to enable dialback, or use SASL EXTERNAL (sasl = optional, a trusted certificate)";
			end
			return true, "dialback offered over TLS (not attempted: it needs the server to call this host back)";
		end
		local cert_why, cert_fix = cert_problem(conn.cert, facts.domain, conn.cert_error);
		if cert_why then
			if partner.dialback and not (partner.tls == "required" and partner.sasl == "required") then
				return false, cert_why, cert_fix;
			end
			return false, cert_why, cert_fix .. "; or allow dialback (dialback = true, sasl = optional)";
		end
		if not after.external then
			return false, "the server does not offer SASL EXTERNAL to this host (it does not accept this host's certificate)",
				"ask the partner to trust this host's CA, or allow dialback (dialback = true, sasl = optional)";
		end
		local attempt = conn.auth and conn.auth.sasl_external;
		if attempt and attempt.outcome == "failure" then
			return false, "SASL EXTERNAL failed: " .. tostring(attempt.condition),
				"ask the partner to trust this host's certificate, or allow dialback (dialback = true, sasl = optional)";
		end
		if attempt and attempt.outcome == "success" then return true, "SASL EXTERNAL succeeded"; end
		return true, "SASL EXTERNAL offered and the certificate identifies " .. facts.domain .. " (not attempted)";
	end

	local function warnings_of(facts, conn)
		local out = {};
		local cert = conn and conn.cert;
		if cert and not cert.expired and cert.days_left and cert.days_left < EXPIRY_WARNING_DAYS then
			out[#out + 1] = ("its certificate expires in %d days"):format(cert.days_left);
		end
		if cert and cert.client_auth == false then
			out[#out + 1] = "its certificate has no clientAuth extended key usage: servers that check it refuse "
				.. "SASL EXTERNAL when the partner connects to them";
		end
		for _, note in ipairs(facts.notes or {}) do out[#out + 1] = note; end
		return out;
	end

	-- What the partner's server meets when it connects to us, from explain(domain).
	local function incoming_of(explained, conn)
		if not explained then return nil; end
		local out = { accepted = {} };
		for _, row in ipairs(explained.rows or {}) do
			if row[1] == "incoming offer" then out.offer = row[2]; end
		end
		for _, name in ipairs(explained.usable or {}) do out.accepted[#out.accepted + 1] = name; end
		local cert = conn and conn.cert;
		if cert then
			out.certificate = cert.chain == "valid" and not cert.expired and "trusted here" or "not trusted here";
		end
		return out;
	end

	local function label(name)
		for _, m in ipairs(labels) do if m.name == name then return m.label; end end
		return name;
	end

	--- verdict(partner, facts, explained) -> { ok, outgoing, methods = { { name, label, allowed,
	-- possible, why, fix } }, fixes, warnings, incoming, summary }
	return function (partner, facts, explained)
		local conn = answered(facts);
		local result = { methods = {}, fixes = {}, warnings = warnings_of(facts, conn), incoming = incoming_of(explained, conn) };
		local seen = {};
		local function fix(text) if text and not seen[text] then seen[text] = true; result.fixes[#result.fixes + 1] = text; end end
		for _, m in ipairs(labels) do
			local refusal = core.refusal(partner, m.name, facts.domain);
			local entry = { name = m.name, label = m.label, allowed = refusal == nil };
			if refusal then
				entry.possible, entry.why = false, "not allowed: " .. refusal;
			elseif not conn then
				entry.possible, entry.why = false, "the server could not be reached";
			else
				entry.possible, entry.why, entry.fix = method_outcome(m.name, partner, facts, conn);
			end
			if entry.possible and not result.outgoing then result.outgoing = m.name; end
			result.methods[#result.methods + 1] = entry;
		end
		result.ok = result.outgoing ~= nil;
		if not conn then
			local last = facts.attempts and facts.attempts[#facts.attempts];
			fix(("nothing answered (%s): check the partner's DNS (SRV _xmpp-server._tcp.%s, its address) or its connect, "
				.. "and that its server runs"):format(facts.error or last and last.error or "no address", facts.domain));
		elseif not result.ok then
			for _, entry in ipairs(result.methods) do if entry.allowed then fix(entry.fix); end end
		end
		result.summary = result.ok and ("%s: outgoing streams can authenticate by %s"):format(facts.domain, label(result.outgoing))
			or ("%s: no allowed method can succeed outgoing%s"):format(facts.domain,
				result.fixes[1] and (": " .. result.fixes[1]) or "");
		return result;
	end;
end
