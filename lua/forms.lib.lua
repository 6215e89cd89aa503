-- Ad-hoc commands (XEP-0050 with XEP-0004 forms) for a host's partner admins (README
-- "Administration"): list, show, put (add or edit, two stages), remove (with confirmation),
-- explain, status, probe and audit under urn:xmpp:s2s-partners#<name>. Who may use them is access.lib.lua's
-- decision, taken before anything else: others get `forbidden` and learn nothing.

local jid_bare = require "util.jid".bare;

local NS = "urn:xmpp:s2s-partners#";

-- `admin`: { core, ops, explain, status, render, probe, proberender } (mod_s2s_partners.lua).
return function (admin, xdata, access)
	local core, ops, explain, status, render = admin.core, admin.ops, admin.explain, admin.status, admin.render;
	module:depends("adhoc");
	local adhoc_new = module:require("adhoc").new;

	local function completed(info, extra)
		local response = extra or {};
		response.status, response.info = "completed", info;
		return response;
	end
	local function failed(message) return { status = "completed", error = { message = message } }; end
	local function form_errors(errors)
		local out = {};
		for name, e in pairs(errors) do out[#out + 1] = name .. ": " .. e; end
		table.sort(out);
		return failed(table.concat(out, "\n"));
	end
	local function who(data) return { actor = jid_bare(data.from), interface = "adhoc" }; end

	-- Register `handler(data, state)` at NS..name; `need` is "view" or "manage".
	local function command(name, title, need, handler)
		module:provides("adhoc", adhoc_new(title, NS .. name, function (_, data, state)
			if not access[need](data.from) then
				return { status = "error", error = { type = "auth", condition = "forbidden" } };
			end
			if data.action == "cancel" then return { status = "canceled" }; end
			return handler(data, state);
		end, access.adhoc_permission));
	end

	-- A first stage asking for one value; `next_stage(value, data)` answers its submission.
	local function asking(form, name, actions, next_stage)
		return function (data, state)
			if not state then return { status = "executing", actions = actions, form = form }, "asked"; end
			local fields, errors = form:data(data.form);
			if errors then return form_errors(errors); end
			return next_stage(fields[name], data);
		end;
	end
	local ONE_STAGE = { "complete", default = "complete" };
	local TWO_STAGES = { "next", default = "next" };

	command("list", "List federation partners", "view", function ()
		local list, err = ops.list();
		local info = ("%d partners"):format(#list) .. (err and ("\nConfiguration error (all federation refused): " .. err) or "");
		return completed(info, { other = xdata.table("Federation partners of " .. module.host, render.list_columns,
			render.list_rows(list, ops.origin, ops.streams_up())) });
	end);

	local ask_domain = xdata.ask("Which partner?", "domain", "Domain", true);

	command("show", "Show a federation partner", "view", asking(ask_domain, "domain", ONE_STAGE, function (domain)
		local partner, origin = ops.show(domain);
		if not partner then return failed(origin); end
		local values = xdata.values(partner);
		values.origin, values.class, values.message = origin, partner.class, partner.message;
		values.methods = table.concat(render.method_labels(partner), "\n");
		return completed(render.describe(partner, origin), { result = { layout = xdata.show_form, values = values } });
	end));

	-- The record changes a submitted form makes: a field counts when it was submitted and either
	-- was stored or differs from what the form showed, so untouched defaults keep following the
	-- defaults (auto_approve follows type) and untouched stored values stay as they are.
	local function changes_from(domain, fields, present, shown, stored)
		local changes = { domain = domain };
		for _, field in ipairs(xdata.schema) do
			local name = field.name;
			if name ~= "domain" and present[name] then
				local value = xdata.record_value(field, fields[name], ops.UNSET);
				local was_set = stored ~= nil and stored[name] ~= nil;
				if value == ops.UNSET then
					if was_set then changes[name] = ops.UNSET; end
				elseif was_set or render.value_text(value) ~= render.value_text(xdata.record_value(field, shown[name])) then
					changes[name] = value;
				end
			end
		end
		return changes;
	end

	local function save(data, state, fields, present)
		local partner, warnings = ops.put(changes_from(state.domain, fields, present, state.shown, state.stored), who(data));
		if not partner then return failed(warnings); end
		local response = completed("Saved: " .. render.describe(partner, ops.origin(partner)));
		if #warnings > 0 then response.warn = "Warning: " .. table.concat(warnings, "\n"); end
		return response;
	end

	-- Stage 1 names the partner (new or existing); stage 2 is every field, pre-filled. A stage 1
	-- submission that already carries other fields is saved at once.
	command("put", "Add or edit a federation partner", "manage", function (data, state)
		if not state then return { status = "executing", actions = TWO_STAGES, form = ask_domain }, { stage = 1 }; end
		if state.stage == 1 then
			local fields, errors, present = xdata.record_reader:data(data.form);
			if errors and errors.domain then return form_errors({ domain = errors.domain }); end
			local partner, origin, stored = ops.show(fields.domain);
			if partner and origin == "config" then return failed(ops.read_only(partner)); end
			local domain = partner and partner.domain or core.normalize(fields.domain) or fields.domain;
			state = { stage = 2, domain = domain, stored = stored,
				shown = partner and xdata.values(partner) or xdata.defaults(domain) };
			local others = false;
			for name in pairs(present) do if name ~= "domain" then others = true; end end
			if others then
				if errors then return form_errors(errors); end
				return save(data, state, fields, present);
			end
			return { status = "executing", actions = ONE_STAGE, form = { layout = xdata.record_form, values = state.shown } }, state;
		end
		local fields, errors, present = xdata.record_reader:data(data.form, { domain = state.domain });
		if errors then return form_errors(errors); end
		if present.domain and core.normalize(fields.domain) ~= core.normalize(state.domain) then
			return failed(("the primary domain of %s cannot be changed here: remove the partner and add it anew"):format(state.domain));
		end
		return save(data, state, fields, present);
	end);

	local confirm_form = require "util.dataforms".new{ title = "Remove a federation partner",
		{ name = "FORM_TYPE", type = "hidden", value = xdata.FORM_TYPE },
		{ name = "partner", type = "fixed" },
		{ name = "confirm", type = "boolean", label = "Remove it (its streams are closed at once)", required = true } };

	command("remove", "Remove a federation partner", "manage", function (data, state)
		if not state then return { status = "executing", actions = TWO_STAGES, form = ask_domain }, { stage = 1 }; end
		if state.stage == 1 then
			local fields, errors = ask_domain:data(data.form);
			if errors then return form_errors(errors); end
			local partner, origin = ops.show(fields.domain);
			if not partner then return failed(origin); end
			if origin == "config" then return failed(ops.read_only(partner)); end
			return { status = "executing", actions = ONE_STAGE, form = { layout = confirm_form,
				values = { partner = render.describe(partner, origin) } } }, { stage = 2, domain = partner.domain };
		end
		local fields, errors = confirm_form:data(data.form);
		if errors then return form_errors(errors); end
		if not fields.confirm then return completed(("Not removed: %s is unchanged"):format(state.domain)); end
		local ok, err = ops.remove(state.domain, who(data));
		if not ok then return failed(err); end
		return completed("Removed " .. state.domain);
	end);

	command("explain", "Explain what would happen with a domain", "view", asking(ask_domain, "domain", ONE_STAGE, function (domain)
		local result, err = explain(domain);
		if not result then return failed(err); end
		local summary = result.owner == "refused" and ("%s: refused: %s"):format(result.domain or domain, result.refused)
			or ("%s: %s"):format(result.domain, result.owner == "default" and "default policy" or ("partner " .. result.partner.domain));
		return completed(summary, { other = xdata.table("Explain " .. (result.domain or domain), render.pair_columns,
			render.explain_rows(result)) });
	end));

	local ask_optional_domain = xdata.ask("Which partner? (empty: all)", "domain", "Domain", false);
	command("status", "Federation status per partner", "view", asking(ask_optional_domain, "domain", ONE_STAGE, function (domain)
		local report, err = status.report(domain ~= "" and domain or nil);
		if not report then return failed(err); end
		return completed(table.concat(render.status_lines(report), "\n"));
	end));

	-- README "Probe": domain and whether to authenticate, then the report (managing permission:
	-- a probe opens connections from this server).
	local probe_form = require "util.dataforms".new{ title = "Probe a partner's server now",
		{ name = "FORM_TYPE", type = "hidden", value = xdata.FORM_TYPE },
		{ name = "domain", type = "text-single", label = "Domain", required = true },
		{ name = "authenticate", type = "boolean", label = "Also authenticate (SASL EXTERNAL), then close" } };
	command("probe", "Probe a partner's server now", "manage", function (data, state)
		if not state then return { status = "executing", actions = ONE_STAGE, form = probe_form }, "asked"; end
		local fields, errors = probe_form:data(data.form);
		if errors then return form_errors(errors); end
		local result, err = admin.probe.now(fields.domain, { actor = jid_bare(data.from), admin = jid_bare(data.from),
			authenticate = fields.authenticate });
		if not result then return failed(err); end
		return completed(result.summary, { other = xdata.table("Probe of " .. result.facts.domain, render.pair_columns,
			admin.proberender.rows(result)) });
	end);

	local ask_count = xdata.ask("How many changes?", "n", "Number of changes (default 20)", false);
	command("audit", "Audit log of partner changes", "view", asking(ask_count, "n", ONE_STAGE, function (n)
		local entries, err = ops.audit(n);
		if not entries then return failed("could not read the audit log: " .. tostring(err)); end
		return completed(("%d changes"):format(#entries), { other = xdata.table("Partner changes on " .. module.host,
			render.audit_columns, render.audit_rows(entries)) });
	end));
end
