-- The JSON admin API (README "Web panel and JSON API"; docs/openapi.yaml): the same operations as
-- the ad-hoc commands and the shell (admin.lib.lua, explain.lib.lua, status.lib.lua), as JSON.
-- Every handler gets ctx = { request, who, domain, body } from http.lib.lua, which has already
-- checked HTTPS, the login, the permission and the CSRF token, and returns status, value.
--
-- PUT merges like every other interface (README "Edits merge, never drop"): the body's fields
-- replace the stored ones, JSON null puts one back to its default, absent fields are kept.

local json = require "util.json";
local formdecode = require "util.http".formdecode;
local array_mt = getmetatable(require "util.array"());

-- refusal codes of admin.lib.lua -> HTTP status
local STATUS = { invalid = 400, conflict = 409, read_only = 409, not_found = 404, unavailable = 503 };

-- A Lua value as JSON data: sequences (and empty tables) become arrays, other tables objects.
local function jsonable(value)
	if type(value) ~= "table" or value == json.null then return value; end
	local out, n, keys = {}, #value, 0;
	for _ in pairs(value) do keys = keys + 1; end
	for k, v in pairs(value) do out[k] = jsonable(v); end
	if keys == n then return setmetatable(out, array_mt); end
	return out;
end

return function (admin)
	local core, ops, explain, status, render = admin.core, admin.ops, admin.explain, admin.status, admin.render;
	local schema = core.schema();
	local api = { jsonable = jsonable };

	local function refusal(message, detail)
		detail = detail or {};
		return STATUS[detail.code] or 500, { error = message, field = detail.field, code = detail.code };
	end
	api.refusal = refusal;

	-- The last attempt and the last refusal of each partner (README "Status"), by primary domain.
	local function attempts_by_partner()
		local report = status.report();
		local out = {};
		for _, entry in ipairs(report.partners or {}) do
			local last, refused = (entry.attempts or {})[1], nil;
			for _, a in ipairs(entry.attempts or {}) do
				if a.outcome == "refused" then refused = a; break; end
			end
			out[entry.domain] = { last = last, refused = refused, streams = #(entry.streams or {}) };
		end
		return out, report;
	end

	--- A compiled partner as JSON: every schema field, what the core derived, and which fields
	-- are stored (the others follow their defaults).
	function api.partner(partner, origin, record, seen)
		local out = {};
		for _, field in ipairs(schema) do out[field.name] = partner[field.name]; end
		out.origin, out.class, out.message, out.methods = origin, partner.class, partner.message, partner.methods;
		if origin == "runtime" then -- config partners: whatever the file says, read-only here
			local set = {};
			for _, field in ipairs(schema) do
				if field.required or (record and record[field.name] ~= nil) then set[#set + 1] = field.name; end
			end
			out.set = set;
		end
		if seen then
			out.streams_up, out.last_attempt, out.last_refusal = seen.streams, seen.last, seen.refused;
		end
		return jsonable(out);
	end

	function api.list()
		local list, err = ops.list();
		local seen = attempts_by_partner();
		local partners = {};
		for i, p in ipairs(list) do
			local origin = ops.origin(p);
			partners[i] = api.partner(p, origin, origin == "runtime" and ops.record(p.domain) or nil,
				seen[p.domain] or { streams = 0 });
		end
		return 200, { host = module.host, partners = setmetatable(partners, array_mt), config_error = err };
	end

	function api.show(ctx)
		local partner, origin, record = ops.show(ctx.domain);
		if not partner then return refusal(origin, record); end
		local seen = attempts_by_partner();
		return 200, api.partner(partner, origin, record, seen[partner.domain] or { streams = 0 });
	end

	-- The body of a PUT as record changes: known fields only, null -> ops.UNSET.
	local known = {};
	for _, field in ipairs(schema) do known[field.name] = field; end
	local function changes_from(domain, body)
		if type(body) ~= "table" or getmetatable(body) == array_mt or body[1] ~= nil then
			return nil, "expected a JSON object of partner fields";
		end
		local changes = { domain = domain };
		for k, v in pairs(body) do
			if not known[k] then return nil, ("unknown field %q"):format(tostring(k)), k; end
			if k == "domain" then
				if type(v) ~= "string" or core.normalize(v) ~= core.normalize(domain) then
					return nil, "the body's domain differs from the one in the URL", k;
				end
			elseif v == json.null then
				if known[k].required then return nil, ("field %q is required and cannot be unset"):format(k), k; end
				changes[k] = ops.UNSET;
			else
				changes[k] = v;
			end
		end
		return changes;
	end
	api.changes_from = changes_from;

	-- The tls / sasl / dialback an edit would give (the partner's values, or the defaults, under
	-- the changes): when they are an invalid row of the negotiation matrix, the refusal names
	-- the three fields (README "Negotiation matrix"), which the validator reports as a combination.
	local function combination_fields(changes)
		local current = ops.show(changes.domain) or {};
		local values = {};
		for _, name in ipairs{ "tls", "sasl", "dialback" } do
			local v = changes[name];
			if v == ops.UNSET then v = known[name].default; elseif v == nil then v = current[name]; end
			if v == nil then v = known[name].default; end
			values[#values + 1] = v;
		end
		local ok, class = pcall(core.classify, values[1], values[2], values[3]);
		return ok and class == "invalid" and { "tls", "sasl", "dialback" } or nil;
	end

	--- Save `changes` for `who` (ops.put), as an API answer: 201 for a new partner, else 200.
	function api.save(changes, who)
		local existed = ops.record(changes.domain) ~= nil;
		local partner, warnings, detail = ops.put(changes, who);
		if not partner then
			local code, out = refusal(warnings, detail);
			if out.code == "invalid" and not out.field then out.fields = combination_fields(changes); end
			return code, out;
		end
		local origin = ops.origin(partner);
		local out = api.partner(partner, origin, (ops.record(partner.domain)));
		out.warnings = jsonable(warnings);
		return existed and 200 or 201, out;
	end

	function api.put(ctx)
		local body, err = json.decode(ctx.body or "");
		if body == nil then return 400, { error = "the body is not JSON: " .. tostring(err), code = "invalid" }; end
		local changes, why, field = changes_from(ctx.domain, body);
		if not changes then return 400, { error = why, field = field, code = "invalid" }; end
		return api.save(changes, ctx.actor);
	end

	function api.remove(ctx)
		local ok, err, detail = ops.remove(ctx.domain, ctx.actor);
		if not ok then return refusal(err, detail); end
		return 200, { removed = ctx.domain };
	end

	function api.explain(ctx)
		local result, err = explain(ctx.domain);
		if not result then return 400, { error = err, code = "invalid" }; end
		local out = {};
		for k, v in pairs(result) do out[k] = v; end
		if result.partner then
			local origin = result.partner.default and "default" or ops.origin(result.partner);
			out.partner = api.partner(result.partner, origin, origin == "runtime" and ops.record(result.partner.domain) or nil);
		end
		return 200, jsonable(out);
	end

	function api.status(ctx)
		local report, err = status.report(ctx.domain);
		if not report then return 503, { error = err, code = "unavailable" }; end
		return 200, jsonable(report);
	end

	function api.audit(ctx)
		local query = ctx.request.url and ctx.request.url.query;
		local entries, err = ops.audit(query and formdecode(query).n or nil);
		if not entries then return 503, { error = "could not read the audit log: " .. tostring(err), code = "unavailable" }; end
		local out = {};
		for i, e in ipairs(entries) do
			out[i] = { time = e.time, iso_time = render.iso(e.time), actor = e.actor, interface = e.interface,
				action = e.action, domain = e.domain, before = e.before, after = e.after, warnings = e.warnings,
				changes = render.changes(e.before, e.after) };
		end
		return 200, { entries = jsonable(out) };
	end

	--- The negotiation matrix (README "Negotiation matrix") from the core, every combination of
	-- the schema's tls and sasl values with dialback on and off.
	function api.matrix()
		local rows = {};
		local values = {};
		for _, field in ipairs(schema) do values[field.name] = field.values; end
		for _, tls in ipairs(values.tls) do
			for _, sasl in ipairs(values.sasl) do
				for _, dialback in ipairs({ true, false }) do
					local class, methods, message = core.classify(tls, sasl, dialback);
					rows[#rows + 1] = { tls = tls, sasl = sasl, dialback = dialback, class = class,
						methods = methods, message = message };
				end
			end
		end
		return rows;
	end

	local schema_answer;
	function api.schema()
		schema_answer = schema_answer or jsonable{ fields = schema, methods = core.methods(), options = core.options(),
			matrix = api.matrix() };
		return 200, schema_answer;
	end

	--- The live probe (probe.lib.lua, as `s2s_partners:probe`): a promise of { status, value },
	-- or status, value when it is refused at once (not a partner, a local host, the rate limit).
	function api.probe(ctx)
		local body = ctx.body and ctx.body ~= "" and json.decode(ctx.body) or {};
		local started, err = admin.probe.start(ctx.domain, { actor = ctx.who.jid,
			authenticate = type(body) == "table" and body.authenticate == true });
		if not started then return 400, { error = err, code = "invalid" }; end
		return started:next(function (result)
			local partner = result.partner;
			local origin = partner.default and "default" or ops.origin(partner);
			local rows = {};
			for _, r in ipairs(admin.proberender.rows(result)) do
				if r.field == " " and #rows > 0 then -- a continuation row of the shell's wrapping: one value again
					rows[#rows][2] = rows[#rows][2] .. " " .. r.value;
				else
					rows[#rows + 1] = { r.field, r.value };
				end
			end
			return { 200, jsonable{ domain = result.facts.domain, summary = result.summary, verdict = result.verdict,
				facts = result.facts, rows = rows, partner = api.partner(partner, origin) } };
		end, function (failure)
			return { 500, { error = "the probe failed: " .. tostring(failure) } };
		end);
	end

	return api;
end
