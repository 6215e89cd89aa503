-- A probe's result as (field, value) rows (README "Probe"), for the shell and the ad-hoc
-- command alike (render.pair_columns). Plain Lua: spec/unit/verdict_spec.lua renders with it.

local function list(items) return items and #items > 0 and table.concat(items, ", ") or "none"; end
local function yes(b, what) return (b and "" or "no ") .. what; end

local function lookup_text(lookup)
	if lookup.error then return "failed: " .. lookup.error; end
	if lookup.unavailable then return "service explicitly unavailable (\".\")"; end
	if #lookup.records == 0 then return "no records" .. (lookup.status and (" (" .. lookup.status .. ")") or ""); end
	local out = {};
	for i, r in ipairs(lookup.records) do out[i] = ("%s:%d (priority %d)"):format(r.target, r.port, r.priority); end
	return table.concat(out, ", ");
end

local function features_text(f)
	local starttls = f.starttls and ("STARTTLS offered" .. (f.starttls_required and " (required)" or "")) or "no STARTTLS";
	return ("%s; %s; SASL: %s"):format(starttls, yes(f.dialback, "dialback"), list(f.sasl));
end

local function cert_rows(rows, cert, partner_pins)
	local function row(k, v) rows[#rows + 1] = { field = k, value = v }; end
	row("certificate chain", cert.chain .. (#cert.chain_errors > 0 and (": " .. list(cert.chain_errors)) or ""));
	for _, id in ipairs(cert.identity) do
		row("identity " .. id.domain, id.ok and ("valid (" .. id.how .. ")") or "does not name it");
	end
	row("certificate names", list(cert.names));
	if cert.not_after then
		row("validity", (cert.expired and "expired" or "valid") .. (" until %s (%d days %s)"):format(
			os.date("!%Y-%m-%d", cert.not_after), math.abs(cert.days_left), cert.days_left < 0 and "ago" or "left"));
	end
	row("key usage", (cert.key_usage and list(cert.key_usage) or "any") .. "; extended: "
		.. (cert.ext_key_usage and list(cert.ext_key_usage) or "any") .. "; " .. yes(cert.client_auth, "clientAuth"));
	row("SPKI SHA-256", cert.spki_sha256 .. (partner_pins and (cert.pin == "match" and " (matches a pin)" or " (matches no pin)") or ""));
end

local function attempt_rows(rows, a, pinned)
	local function row(k, v) rows[#rows + 1] = { field = k, value = v }; end
	local where = ("%s:%d"):format(a.address, a.port);
	row("connect " .. where, (a.connected and ("connected in %d ms"):format(a.connect_ms) or "failed")
		.. (" (%s %s%s)"):format(a.service, a.target, a.direct_tls and ", direct TLS" or ""));
	if a.before_tls then row("features before TLS", features_text(a.before_tls)); end
	if a.tls then
		row("TLS", a.tls.ok and ("%s, %s (%d ms)"):format(a.tls.protocol or "?", a.tls.cipher or "?", a.tls.ms)
			or ("failed: " .. tostring(a.tls.error)));
	end
	if a.cert then cert_rows(rows, a.cert, pinned) elseif a.cert_error then row("certificate", a.cert_error); end
	if a.after_tls then row("features after TLS", features_text(a.after_tls)); end
	local external = a.auth and a.auth.sasl_external;
	if external then
		row("SASL EXTERNAL attempt", external.outcome .. (external.condition and (": " .. external.condition) or ""));
	end
	if a.after_tls and a.after_tls.dialback or a.before_tls and a.before_tls.dialback then
		row("dialback", "offered / not attempted");
	end
	row("result", a.error and ("ended: " .. a.error) or "closed cleanly");
end

local WIDTH = 100; -- texttable cuts cells at 120 characters: longer values continue on more rows

-- `rows` with every value longer than WIDTH split at spaces onto continuation rows.
local function wrapped(rows)
	local out = {};
	for _, r in ipairs(rows) do
		local text, field = tostring(r.value or "-"), r.field;
		repeat
			local piece = text;
			if #text > WIDTH then
				local space = text:sub(1, WIDTH):match("^.*() ");
				local cut = space or WIDTH + 1;
				while not space and cut > 2 and (text:byte(cut) & 0xC0) == 0x80 do cut = cut - 1; end -- whole code points
				piece, text = text:sub(1, cut - 1), text:sub(space and cut + 1 or cut);
			else
				text = "";
			end
			out[#out + 1] = { field = field, value = piece };
			field = " "; -- a continuation row
		until text == "";
	end
	return out;
end

--- rows(result) -> { { field, value } } for render.pair_columns.
local function rows(result)
	local facts, verdict, partner = result.facts, result.verdict, result.partner;
	local out = {};
	local function row(k, v) out[#out + 1] = { field = k, value = v }; end
	row("domain", facts.domain);
	row("partner", partner.default and "the default policy" or partner.domain);
	row("rule tls / sasl / dialback", ("%s / %s / %s"):format(partner.tls, partner.sasl, tostring(partner.dialback)));
	row("probed", ("%s, %d ms%s"):format(os.date("!%Y-%m-%dT%H:%M:%SZ", facts.time), facts.ms,
		facts.authenticate and ", with authentication" or ""));
	for _, lookup in ipairs(facts.resolution and facts.resolution.srv or {}) do row("SRV " .. lookup.name, lookup_text(lookup)); end
	for _, t in ipairs(facts.resolution and facts.resolution.targets or {}) do
		local ips = {};
		for i, a in ipairs(t.addresses or {}) do ips[i] = a.ip; end
		row(("target %s:%d"):format(t.host, t.port), t.service .. ": " .. (#ips > 0 and list(ips) or tostring(t.error)));
	end
	for _, a in ipairs(facts.attempts) do attempt_rows(out, a, partner.pin ~= nil); end
	if facts.error then row("probe", facts.error); end
	for _, m in ipairs(verdict.methods) do
		row(m.label, (m.allowed and (m.possible and "can succeed: " or "cannot succeed: ") or "") .. m.why);
	end
	local outgoing;
	for _, m in ipairs(verdict.methods) do if m.name == verdict.outgoing then outgoing = m.label; end end
	row("outgoing", outgoing and ("by " .. outgoing) or "no allowed method can succeed");
	if verdict.incoming then
		row("incoming offer", verdict.incoming.offer);
		row("incoming accepted", list(verdict.incoming.accepted));
		if verdict.incoming.certificate then row("its certificate (incoming)", verdict.incoming.certificate); end
	end
	for _, f in ipairs(verdict.fixes) do row("fix", f); end
	for _, w in ipairs(verdict.warnings) do row("warning", w); end
	row("verdict", verdict.summary);
	return wrapped(out);
end

return { rows = rows };
