-- Explain (README "Explain"): for any spelling of a domain, which partner owns it, the methods
-- its row allows, what an incoming and an outgoing stream would be offered and accept given
-- this host's Prosody options, and the contact rules of its type. A dry run: pure and instant,
-- no network, nothing changed.

local certmanager = require "core.certmanager";

return function (core, policy, contacts)
	local methods = core.methods(); -- { { name, label }, ... } in report order
	local label_of = {};
	for _, m in ipairs(methods) do label_of[m.name] = m.label; end

	-- What Prosody's own options do to the methods a partner allows (README "Options").
	local function host_options()
		local options = policy.prosody_options();
		options.certificate = module:get_option("ssl") ~= nil or certmanager.find_host_cert(module.host) ~= nil;
		return options;
	end

	local function labels(list)
		local out = {};
		for i, name in ipairs(list) do out[i] = label_of[name]; end
		return #out > 0 and table.concat(out, ", ") or "none";
	end

	-- The partner's methods that this host's options leave usable, and notes on the others.
	local function usable(partner, options)
		local out, notes = {}, {};
		for _, name in ipairs(partner.methods) do
			if name == "tcp_dialback" and options.require_encryption then
				notes[#notes + 1] = "dialback without TLS: s2s_require_encryption is on, Prosody refuses unencrypted streams";
			elseif name ~= "tcp_dialback" and not options.certificate then
				notes[#notes + 1] = label_of[name] .. ": this host has no certificate, TLS cannot be offered";
			else
				out[#out + 1] = name;
				if name ~= "sasl_tls" and options.secure_auth then
					notes[#notes + 1] = label_of[name] .. ": s2s_secure_auth is on, Prosody accepts it only with a trusted certificate";
				end
			end
		end
		if partner.tls == "not_supported" and options.direct_tls then
			notes[#notes + 1] = "s2s_direct_tls_ports is set: a direct TLS connection cannot be made plaintext";
		end
		return out, notes;
	end

	local allows = policy.allows;

	local tls_incoming = {
		required = "STARTTLS, required: nothing else is offered before TLS";
		optional = "STARTTLS";
		not_supported = "no STARTTLS (TLS is not supported with it)";
	};
	local tls_outgoing = {
		required = "STARTTLS; refused if the peer does not offer it";
		optional = "STARTTLS when the peer offers it";
		not_supported = "never STARTTLS; refused if the peer insists on TLS";
	};

	local function offers(partner, incoming)
		local out = { (incoming and tls_incoming or tls_outgoing)[partner.tls] };
		if allows(partner, "sasl_tls") then
			out[#out + 1] = incoming and "SASL EXTERNAL after TLS, when its certificate is valid for the domain"
				or "SASL EXTERNAL after TLS, when offered and the peer's certificate identifies it";
		end
		for _, name in ipairs({ "tls_dialback", "tcp_dialback" }) do
			if allows(partner, name) then out[#out + 1] = label_of[name]; end
		end
		return table.concat(out, "; ");
	end

	local function refused(query, name, why)
		return { query = query, domain = name, owner = "refused", refused = why,
			rows = { { "domain", name or query }, { "owner", "none" }, { "refused", why } } };
	end

	--- explain(domain) -> { query, domain, owner = "primary"|"additional"|"default"|"refused",
	--   partner, refused, methods = { { name, label, allowed, reason } }, usable, notes, rows }
	-- `rows` is the whole answer as (field, value) pairs, in display order.
	return function (query)
		if type(query) ~= "string" then return nil, "expected a domain"; end
		local name, nerr = core.normalize(query);
		if not name then return refused(query, nil, "not a valid domain name: " .. tostring(nerr)); end
		local partner, why = policy.resolve(name);
		if not partner then return refused(query, name, why); end
		local owner = partner.default and "default" or partner.domain == name and "primary" or "additional";
		local options = host_options();
		local ok_methods, notes = usable(partner, options);
		local result = { query = query, domain = name, owner = owner, partner = partner, methods = {},
			usable = ok_methods, notes = notes };
		local rows = {
			{ "domain", name },
			{ "owner", owner == "default" and "the default policy (s2s_partners_default)"
				or ("%s domain of partner %s (%s)"):format(owner, partner.domain, policy.is_from_config(partner) and "config" or "runtime") },
			{ "type", partner.type },
			{ "tls / sasl / dialback", ("%s / %s / %s"):format(partner.tls, partner.sasl, tostring(partner.dialback)) },
			{ "class", partner.class .. (partner.message and (": " .. partner.message) or "") },
		};
		for _, m in ipairs(methods) do
			local reason = core.refusal(partner, m.name, name);
			result.methods[#result.methods + 1] = { name = m.name, label = m.label, allowed = reason == nil, reason = reason };
			rows[#rows + 1] = { m.label, reason and ("refused: " .. reason) or "allowed" };
		end
		rows[#rows + 1] = { "incoming offer", offers(partner, true) };
		rows[#rows + 1] = { "outgoing attempt", offers(partner, false) };
		rows[#rows + 1] = { "accepted with this host's options", labels(ok_methods) };
		for _, note in ipairs(notes) do rows[#rows + 1] = { "note", note }; end
		local rules = contacts.rules(partner);
		rows[#rows + 1] = { "subscription requests", rules.subscriptions };
		rows[#rows + 1] = { "messages", rules.messages };
		rows[#rows + 1] = { "status notes", rules.status };
		if partner.connection_limit then rows[#rows + 1] = { "connection_limit", tostring(partner.connection_limit) }; end
		if partner.pin then rows[#rows + 1] = { "pin", ("%d key pin(s): other certificates are refused"):format(#partner.pin) }; end
		result.rows = rows;
		return result;
	end;
end
