-- What the administration interfaces show (README "Administration"): rows and lines built from
-- the partner schema of the C core and from admin / explain / status / audit data, shared by the
-- shell (shell.lib.lua) and the ad-hoc commands (forms.lib.lua) so both say the same thing.

local texttable = module:require("texttable");

local function iso(t)
	return t and os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t)) or nil;
end

--- A field's value as text: lists joined with ", ", nil as nil (texttable prints "-").
local function value_text(v)
	if type(v) == "table" then
		local out = {};
		for i, x in ipairs(v) do out[i] = tostring(x); end
		return #out > 0 and table.concat(out, ", ") or nil;
	end
	if v == nil or v == "" then return nil; end
	return tostring(v);
end

return function (core)
	local render = { iso = iso, value_text = value_text, lines = texttable.lines };
	local schema = core.schema();

	--- One line for a partner: "b.test +c.test [runtime] federated tls=… sasl=… dialback=… (class) — description".
	function render.describe(partner, origin)
		local extra = #partner.additional_domains > 0 and (" +" .. table.concat(partner.additional_domains, ",")) or "";
		return ("%s%s [%s] %s tls=%s sasl=%s dialback=%s (%s)%s"):format(partner.domain, extra, origin, partner.type,
			partner.tls, partner.sasl, tostring(partner.dialback), partner.class,
			partner.description ~= "" and (" — " .. partner.description) or "");
	end

	render.list_columns = {
		{ key = "domain", title = "domain" }, { key = "additional_domains", title = "additional domains" },
		{ key = "type", title = "type" }, { key = "tls", title = "tls" }, { key = "sasl", title = "sasl" },
		{ key = "dialback", title = "dialback" }, { key = "origin", title = "origin" }, { key = "class", title = "class" },
		{ key = "streams", title = "streams up" },
	};

	--- One row per partner for listings (keys of list_columns).
	function render.list_rows(partners, origin_of, streams_up)
		local rows = {};
		for i, p in ipairs(partners) do
			rows[i] = { domain = p.domain, additional_domains = value_text(p.additional_domains), type = p.type,
				tls = p.tls, sasl = p.sasl, dialback = tostring(p.dialback), origin = origin_of(p), class = p.class,
				streams = tostring(streams_up[p.domain] or 0) };
		end
		return rows;
	end

	local methods = core.methods(); -- { { name, label } } in report order

	--- The labels of the methods `partner` allows, in report order.
	function render.method_labels(partner)
		local allowed, labels = {}, {};
		for _, name in ipairs(partner.methods) do allowed[name] = true; end
		for _, m in ipairs(methods) do
			if allowed[m.name] then labels[#labels + 1] = m.label; end
		end
		return labels;
	end

	--- Every field of a partner, in schema order, then what the core derived from them:
	-- { { field, value, source = "set" | "default" } ... } for show.
	function render.show_rows(partner, origin, record)
		local rows = {};
		for _, field in ipairs(schema) do
			local set = field.required or (record and record[field.name] ~= nil);
			rows[#rows + 1] = { field = field.name, value = value_text(partner[field.name]),
				source = origin == "config" and "config" or set and "set" or "default" };
		end
		rows[#rows + 1] = { field = "origin", value = origin, source = "" };
		rows[#rows + 1] = { field = "class", value = partner.class .. (partner.message and (": " .. partner.message) or ""), source = "" };
		local labels = render.method_labels(partner);
		rows[#rows + 1] = { field = "methods", value = #labels > 0 and table.concat(labels, ", ") or "none", source = "" };
		return rows;
	end
	render.show_columns = { { key = "field", title = "field" }, { key = "value", title = "value" }, { key = "source", title = "" } };

	--- explain() rows as { field, value } tables.
	function render.explain_rows(result)
		local rows = {};
		for i, r in ipairs(result.rows) do rows[i] = { field = r[1], value = r[2] }; end
		return rows;
	end
	render.pair_columns = { { key = "field", title = "field" }, { key = "value", title = "value" } };

	-- What changed between two stored records, "field: old → new; …" (a field not stored reads
	-- "(default)"); an addition or a removal lists the stored fields.
	local function changes(before, after)
		local out = {};
		for _, field in ipairs(schema) do
			local old, new = value_text(before and before[field.name]), value_text(after and after[field.name]);
			if old ~= new and not field.required then -- the domain is the entry's own column
				if not before or not after then
					out[#out + 1] = ("%s: %s"):format(field.name, old or new);
				else
					out[#out + 1] = ("%s: %s → %s"):format(field.name, old or "(default)", new or "(default)");
				end
			end
		end
		return table.concat(out, "; ");
	end
	render.changes = changes;

	render.audit_columns = {
		{ key = "time", title = "time" }, { key = "actor", title = "who" }, { key = "interface", title = "via" },
		{ key = "action", title = "action" }, { key = "domain", title = "partner" }, { key = "changes", title = "changes" },
		{ key = "warnings", title = "warnings" },
	};
	function render.audit_rows(entries)
		local rows = {};
		for i, e in ipairs(entries) do
			rows[i] = { time = iso(e.time), actor = e.actor, interface = e.interface, action = e.action, domain = e.domain,
				changes = changes(e.before, e.after), warnings = value_text(e.warnings) };
		end
		return rows;
	end

	render.stream_columns = {
		{ key = "direction", title = "direction" }, { key = "remote", title = "remote" }, { key = "method", title = "method" },
		{ key = "tls", title = "tls" }, { key = "certificate", title = "certificate (chain/identity)" },
		{ key = "since", title = "since" },
	};
	render.attempt_columns = {
		{ key = "time", title = "time" }, { key = "direction", title = "direction" }, { key = "remote", title = "remote" },
		{ key = "outcome", title = "outcome" }, { key = "method", title = "method" }, { key = "reason", title = "reason" },
		{ key = "text", title = "text" },
		{ key = "peer_error", title = "peer error" },
	};

	local function stream_rows(streams)
		local rows = {};
		for i, s in ipairs(streams or {}) do
			rows[i] = { direction = s.direction, remote = s.remote, method = s.method, tls = s.tls,
				certificate = (s.cert_chain or s.cert_identity) and ("%s/%s"):format(s.cert_chain or "-", s.cert_identity or "-"),
				since = iso(s.since) };
		end
		return rows;
	end

	local function attempt_rows(attempts)
		local rows = {};
		for i, a in ipairs(attempts or {}) do
			rows[i] = { time = iso(a.time), direction = a.direction, remote = a.remote, outcome = a.outcome or "refused",
				method = a.method, reason = a.reason, text = a.text, peer_error = a.peer_error };
		end
		return rows;
	end

	local function append(out, lines, indent)
		for _, line in ipairs(lines) do out[#out + 1] = indent .. line; end
	end

	local function partner_lines(out, entry)
		local streams = entry.streams or {};
		out[#out + 1] = ("%s: %d stream%s up"):format(entry.domain or "default policy", #streams, #streams == 1 and "" or "s");
		if #streams > 0 then append(out, texttable.lines(render.stream_columns, stream_rows(streams)), "  "); end
		if entry.attempts and #entry.attempts > 0 then
			out[#out + 1] = "  last attempts:";
			append(out, texttable.lines(render.attempt_columns, attempt_rows(entry.attempts)), "  ");
		end
		local probe = entry.last_probe; -- README "Probe"
		if probe then out[#out + 1] = ("  last probe: %s by %s: %s"):format(iso(probe.time), probe.by, texttable.cell(probe.summary)); end
	end

	--- status.report() as lines.
	function render.status_lines(report)
		local out = {};
		for _, entry in ipairs(report.partners or {}) do partner_lines(out, entry); end
		if report.default then partner_lines(out, report.default); end
		if report.unlisted then
			out[#out + 1] = ("Unlisted domains refused: %d (last %d shown)"):format(report.unlisted_total or #report.unlisted,
				#report.unlisted);
			if #report.unlisted > 0 then append(out, texttable.lines(render.attempt_columns, attempt_rows(report.unlisted)), "  "); end
		end
		return out;
	end

	return render;
end
