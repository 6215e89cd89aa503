-- The web panel's pages (README "Web panel and JSON API"): server-rendered HTML forms that work
-- without JavaScript, the Lync Control Panel's procedure (External Access and Federation → XMPP
-- Federated Partners → New / Edit → Commit) for a Prosody host. Every change goes through the
-- JSON API's handlers (api.lib.lua), so both say and do the same; http.lib.lua has checked HTTPS.
--
--   login, logout          Prosody account of the host (httpauth.lib.lua)
--   /                      the partners (every field, origin, status, last refusal), the
--                          refused unlisted domains with "add as partner", the Explain box
--   new, edit/D, save      the form (partnerform.lib.lua); an invalid record is shown again with
--                          the validator's message next to its fields, nothing saved
--   remove/D               confirmation, then removal
--   partner/D, probe/D     per-partner status, and the live probe's report
--   explain?domain=D       Explain; audit: the audit log

local formdecode = require "util.http".formdecode;
local urlencode = require "util.http".urlencode;

local html = module:require("html");
local el = html.el;

return function (admin, auth, api)
	local core, ops, render, status = admin.core, admin.ops, admin.render, admin.status;
	local form = module:require("partnerform")(core, render);
	local schema = core.schema();
	local pages = {};

	local function page(ctx, code, title, body, headers)
		return code, html.page(title, body, { base = ctx.base, who = ctx.who and ctx.who.jid, csrf = ctx.who and ctx.who.csrf }),
			headers;
	end
	local function redirect(location, headers)
		headers = headers or {};
		headers.location = location;
		return 303, "", headers;
	end
	local function notice(text, kind) return el("div", { class = "notice " .. (kind or "info"), role = "status" }, text); end
	local function query(ctx)
		local q = ctx.request.url and ctx.request.url.query;
		local decoded = q and formdecode(q);
		return type(decoded) == "table" and decoded or {};
	end
	local function fields_of(ctx)
		local decoded = ctx.request.body and ctx.request.body ~= "" and formdecode(ctx.request.body);
		return type(decoded) == "table" and decoded or {};
	end
	local function link(ctx, path, text) return el("a", { href = ctx.base .. path }, text); end
	local function post_button(ctx, path, text, hidden)
		local inputs = { el("input", { type = "hidden", name = "csrf", value = ctx.who.csrf }) };
		for k, v in pairs(hidden or {}) do inputs[#inputs + 1] = el("input", { type = "hidden", name = k, value = v }); end
		return el("form", { method = "post", action = ctx.base .. path, class = "inline" }, inputs,
			el("button", { type = "submit" }, text));
	end

	-- Login ----------------------------------------------------------------------------------

	local function login_page(ctx, code, message, username)
		local token, cookie = auth.login_token(ctx.request, ctx.base);
		local body = el("form", { method = "post", action = ctx.base .. "login", class = "login" },
			message and el("div", { class = "notice error", role = "alert" }, message),
			el("input", { type = "hidden", name = "login_token", value = token }),
			el("div", { class = "field" }, el("label", { ["for"] = "username" }, "Account"),
				el("input", { id = "username", name = "username", type = "text", autocomplete = "username", required = true,
					value = username, autocapitalize = "none", spellcheck = "false" }),
				el("p", { class = "help" }, "A Prosody account of " .. module.host .. " that may manage its partners.")),
			el("div", { class = "field" }, el("label", { ["for"] = "password" }, "Password"),
				el("input", { id = "password", name = "password", type = "password", autocomplete = "current-password",
					required = true })),
			el("p", { class = "actions" }, el("button", { type = "submit" }, "Log in")));
		ctx.who = nil;
		return page(ctx, code, "Log in", body, cookie and { set_cookie = cookie } or nil);
	end

	local function login(ctx)
		if ctx.method ~= "POST" then return login_page(ctx, 200); end
		local fields = fields_of(ctx);
		if not auth.login_token_ok(ctx.request, fields.login_token) then
			return login_page(ctx, 403, "The login form had expired: please log in again.", fields.username);
		end
		local who, code, message = auth.login(ctx.request, fields.username, fields.password, ctx.base);
		if not who then return login_page(ctx, code, message, fields.username); end
		return redirect(ctx.base, { set_cookie = who.cookie });
	end

	-- The partner list --------------------------------------------------------------------------

	local function badge(p)
		local last = p.last_attempt;
		local text, class;
		if (p.streams_up or 0) > 0 then
			text, class = ("up: %d stream%s"):format(p.streams_up, p.streams_up == 1 and "" or "s"), "up";
		elseif last then
			text, class = "no stream; last attempt " .. last.outcome, last.outcome == "accepted" and "idle" or "down";
		else
			text, class = "no stream yet", "idle";
		end
		return el("span", { class = "badge " .. class }, text);
	end

	local function refusal_text(a)
		if not a then return nil; end
		return ("%s %s %s: %s"):format(render.iso(a.time), a.direction, a.remote, a.text or a.peer_error or a.reason or "");
	end

	local function partner_rows(ctx, list)
		local rows = {};
		for i, p in ipairs(list) do
			local row = {};
			for _, field in ipairs(schema) do row[field.name] = render.value_text(p[field.name]); end
			row.domain = link(ctx, "partner/" .. urlencode(p.domain), p.domain);
			row.origin, row.class = p.origin, el("span", { class = "class " .. p.class }, p.class);
			row.status, row.last_refusal = badge(p), refusal_text(p.last_refusal);
			row.actions = ctx.who.may == "manage" and p.origin == "runtime" and {
				link(ctx, "edit/" .. urlencode(p.domain), "Edit"), " ", link(ctx, "remove/" .. urlencode(p.domain), "Remove") } or nil;
			rows[i] = row;
		end
		return rows;
	end

	local function list_columns()
		local columns = {};
		for _, field in ipairs(schema) do columns[#columns + 1] = { key = field.name, title = field.name }; end
		for _, extra in ipairs{ { "origin", "origin" }, { "class", "class" }, { "status", "status" },
			{ "last_refusal", "last refusal" }, { "actions", "actions" } } do
			columns[#columns + 1] = { key = extra[1], title = extra[2] };
		end
		return columns;
	end

	local function explain_box(ctx, value)
		return el("form", { method = "get", action = ctx.base .. "explain", class = "explain", role = "search" },
			el("label", { ["for"] = "explain-domain" }, "Explain a domain"),
			el("input", { id = "explain-domain", name = "domain", type = "text", value = value, required = true,
				autocapitalize = "none", spellcheck = "false" }),
			el("button", { type = "submit" }, "Explain"));
	end

	local function unlisted_section(ctx, report)
		local rows = {};
		for i, a in ipairs(report.unlisted or {}) do
			rows[i] = { time = render.iso(a.time), direction = a.direction, remote = a.remote, text = a.text or a.reason,
				actions = ctx.who.may == "manage" and link(ctx, "new?domain=" .. urlencode(a.remote or ""),
					"Add as partner") or nil };
		end
		return el("section", { ["aria-labelledby"] = "unlisted" },
			el("h2", { id = "unlisted" }, ("Refused unlisted domains (%d since the module was loaded)"):format(report.unlisted_total or 0)),
			#rows > 0 and html.grid({ { key = "remote", title = "domain" }, { key = "time", title = "time" },
				{ key = "direction", title = "direction" }, { key = "text", title = "refusal" }, { key = "actions", title = "" } }, rows)
				or el("p", nil, "None."));
	end

	local function index(ctx)
		local _, listed = api.list();
		local q = query(ctx);
		local body = {
			q.removed and notice("Removed " .. q.removed),
			listed.config_error and notice("Configuration error, all federation is refused: " .. listed.config_error, "error"),
			explain_box(ctx),
			el("section", { ["aria-labelledby"] = "partners" }, el("h2", { id = "partners" }, ("Partners (%d)"):format(#listed.partners)),
				ctx.who.may == "manage" and el("p", nil, link(ctx, "new", "New partner")),
				html.grid(list_columns(), partner_rows(ctx, listed.partners))),
			unlisted_section(ctx, status.report()),
		};
		return page(ctx, 200, "XMPP federated partners", body);
	end

	-- New, edit, save ------------------------------------------------------------------------

	local function form_page(ctx, code, title, opts)
		opts.base, opts.csrf = ctx.base, ctx.who.csrf;
		return page(ctx, code, title, form.render(opts));
	end

	local function new(ctx)
		local domain = query(ctx).domain;
		local values = form.values(nil);
		values.domain = domain or "";
		return form_page(ctx, 200, "New partner", { new = true, values = values, combination = form.effective({}) });
	end

	local function edit(ctx, domain)
		local partner, origin, record = ops.show(domain);
		if not partner then return page(ctx, 404, "Not a partner", notice(origin, "error")); end
		if origin == "config" then return page(ctx, 409, "Read-only partner", notice(ops.read_only(partner), "error")); end
		local values = form.values(record);
		values.domain = partner.domain;
		return form_page(ctx, 200, "Edit " .. partner.domain, { values = values,
			combination = form.combination(partner.tls, partner.sasl, partner.dialback) });
	end

	local partner_page; -- below

	local function save(ctx)
		local fields = fields_of(ctx);
		local domain = fields.domain or "";
		local partner, origin = ops.show(domain);
		local existing = partner and origin == "runtime" and ops.record(partner.domain) or nil;
		local name = existing and existing.domain or domain;
		local changes, texts = form.changes(name, fields, existing, ops.UNSET);
		local code, out = api.save(changes, { actor = ctx.who.jid, interface = "http" });
		if code == 200 or code == 201 then
			local saved = { notice("Saved: " .. render.describe(ops.show(out.domain), out.origin)) };
			for _, w in ipairs(out.warnings or {}) do saved[#saved + 1] = notice("Warning: " .. w, "warning"); end
			return partner_page(ctx, out.domain, saved);
		end
		local errors = {};
		if out.field then errors[out.field] = out.error; end
		for _, f in ipairs(out.fields or {}) do errors[f] = true; end
		return form_page(ctx, code, existing and ("Edit " .. name) or "New partner", {
			new = not existing, values = texts, errors = errors,
			error = out.error .. " The changes have not been saved.",
			combination_error = out.fields and (out.error .. " The changes have not been saved.") or nil,
			combination = form.effective(fields) });
	end

	-- Remove ------------------------------------------------------------------------------------

	local function remove(ctx, domain)
		local partner, origin = ops.show(domain);
		if not partner then return page(ctx, 404, "Not a partner", notice(origin, "error")); end
		if origin == "config" then return page(ctx, 409, "Read-only partner", notice(ops.read_only(partner), "error")); end
		if ctx.method == "POST" then
			local ok, err = ops.remove(partner.domain, { actor = ctx.who.jid, interface = "http" });
			if not ok then return page(ctx, 409, "Not removed", notice(err, "error")); end
			return redirect(ctx.base .. "?removed=" .. urlencode(partner.domain));
		end
		return page(ctx, 200, "Remove " .. partner.domain, {
			el("p", nil, render.describe(partner, origin)),
			el("p", nil, "Its streams are closed at once and its domains can no longer federate with " .. module.host .. "."),
			el("p", { class = "actions" }, post_button(ctx, "remove/" .. urlencode(partner.domain), "Remove " .. partner.domain), " ",
				link(ctx, "partner/" .. urlencode(partner.domain), "Cancel")) });
	end

	-- Per-partner status, probe, explain, audit ------------------------------------------------------

	local STREAM_COLUMNS = { { key = "remote", title = "remote" }, { key = "direction", title = "direction" },
		{ key = "method", title = "method" }, { key = "tls", title = "TLS" }, { key = "certificate", title = "certificate" },
		{ key = "since", title = "since" } };
	local ATTEMPT_COLUMNS = { { key = "time", title = "time" }, { key = "direction", title = "direction" },
		{ key = "remote", title = "remote" }, { key = "outcome", title = "outcome" }, { key = "method", title = "method" },
		{ key = "reason", title = "reason" }, { key = "text", title = "text" }, { key = "peer_error", title = "peer error" } };

	function partner_page(ctx, domain, notices)
		local partner, origin, record = ops.show(domain);
		if not partner then return page(ctx, 404, "Not a partner", notice(origin, "error")); end
		local fields = {};
		for i, r in ipairs(render.show_rows(partner, origin, record)) do fields[i] = r; end
		local entry = (status.report(partner.domain).partners or {})[1] or {};
		local streams, attempts = {}, {};
		for i, s in ipairs(entry.streams or {}) do
			streams[i] = { remote = s.remote, direction = s.direction, method = s.method, tls = s.tls,
				certificate = (s.cert_chain or "-") .. "/" .. (s.cert_identity or "-"), since = render.iso(s.since) };
		end
		for i, a in ipairs(entry.attempts or {}) do
			attempts[i] = { time = render.iso(a.time), direction = a.direction, remote = a.remote, outcome = a.outcome,
				method = a.method, reason = a.reason, text = a.text, peer_error = a.peer_error };
		end
		local manage = ctx.who.may == "manage";
		local body = {
			notices,
			el("p", { class = "actions" }, manage and admin.probe and post_button(ctx, "probe/" .. urlencode(partner.domain), "Probe now"), " ",
				manage and origin == "runtime" and { link(ctx, "edit/" .. urlencode(partner.domain), "Edit"), " ",
					link(ctx, "remove/" .. urlencode(partner.domain), "Remove") }),
			html.grid(render.show_columns, fields, "Fields (" .. origin .. ")"),
			el("h2", nil, ("Streams up now (%d)"):format(#streams)),
			#streams > 0 and html.grid(STREAM_COLUMNS, streams) or el("p", nil, "None."),
			el("h2", nil, "Last attempts"),
			#attempts > 0 and html.grid(ATTEMPT_COLUMNS, attempts) or el("p", nil, "None since the module was loaded."),
			entry.last_probe and { el("h2", nil, "Last probe"),
				el("p", nil, ("%s by %s: %s"):format(render.iso(entry.last_probe.time), entry.last_probe.by or "?",
					entry.last_probe.summary or "")) },
		};
		return page(ctx, 200, "Partner " .. partner.domain, body);
	end

	local PAIR_COLUMNS = { { key = "field", title = "" }, { key = "value", title = "" } };

	local function probe(ctx, domain)
		local code, out = api.probe{ domain = domain, who = ctx.who, body = "" };
		local function report(done_code, value)
			if done_code ~= 200 then return page(ctx, done_code, "Probe of " .. domain, notice(value.error, "error")); end
			local rows = {};
			for i, r in ipairs(value.rows) do rows[i] = { field = r[1], value = r[2] }; end
			return page(ctx, 200, "Probe of " .. value.domain, {
				notice(value.summary, value.verdict and value.verdict.ok and "info" or "warning"),
				el("div", { class = "probe-report" }, html.grid(PAIR_COLUMNS, rows, "Probe report")),
				el("p", nil, link(ctx, "partner/" .. urlencode(value.domain), "Back to " .. value.domain)) });
		end
		if type(code) ~= "table" then return report(code, out); end
		return code:next(function (done) return { report(done[1], done[2]) }; end);
	end

	local function explain(ctx)
		local domain = query(ctx).domain or "";
		local code, out = api.explain{ domain = domain };
		local body = { explain_box(ctx, domain) };
		if code ~= 200 then
			body[#body + 1] = notice(out.error, "error");
		else
			local rows = {};
			for i, r in ipairs(out.rows) do rows[i] = { field = r[1], value = r[2] }; end
			body[#body + 1] = html.grid(PAIR_COLUMNS, rows, "What " .. module.host .. " does with " .. (out.domain or domain));
			if out.owner == "refused" and ctx.who.may == "manage" and out.domain then
				body[#body + 1] = el("p", nil, link(ctx, "new?domain=" .. urlencode(out.domain), "Add " .. out.domain .. " as a partner"));
			end
		end
		return page(ctx, code, "Explain", body);
	end

	local function audit(ctx)
		local entries, err = ops.audit(query(ctx).n or 50);
		if not entries then return page(ctx, 503, "Audit log", notice("could not read the audit log: " .. tostring(err), "error")); end
		return page(ctx, 200, "Audit log", html.grid(render.audit_columns, render.audit_rows(entries)));
	end

	-- Routing ------------------------------------------------------------------------------------

	-- path pattern, methods allowed, permission, handler(ctx, capture)
	local routes = {
		{ "^$", { GET = true }, "view", index },
		{ "^new$", { GET = true }, "manage", new },
		{ "^edit/([^/]+)$", { GET = true }, "manage", edit },
		{ "^save$", { POST = true }, "manage", save },
		{ "^remove/([^/]+)$", { GET = true, POST = true }, "manage", remove },
		{ "^partner/([^/]+)$", { GET = true }, "view", function (ctx, d) return partner_page(ctx, d); end },
		{ "^probe/([^/]+)$", { POST = true }, "manage", probe },
		{ "^explain$", { GET = true }, "view", explain },
		{ "^audit$", { GET = true }, "view", audit },
	};

	--- ctx = { request, method, path, base, state_changing } -> status, html, headers (or a promise of
	-- { status, html, headers }).
	function pages.handle(ctx)
		if ctx.path == "login" then return login(ctx); end
		local who, _, message = auth.identify(ctx.request);
		if not who then
			if ctx.method == "GET" then return redirect(ctx.base .. "login"); end
			return login_page(ctx, 401, message);
		end
		ctx.who = who;
		if ctx.state_changing and not auth.csrf_ok(who, fields_of(ctx).csrf) then
			return page(ctx, 403, "Not done", notice("This form was not sent by this panel (missing or wrong CSRF token): nothing was changed.", "error"));
		end
		if ctx.path == "logout" and ctx.method == "POST" then
			return redirect(ctx.base .. "login", { set_cookie = auth.logout(ctx.request, ctx.base) });
		end
		if not who.may then
			return page(ctx, 403, "Not allowed", notice(("%s may not view the federation partners of %s"):format(who.jid, module.host), "error"));
		end
		for _, r in ipairs(routes) do
			local matched, _, capture = ctx.path:find(r[1]);
			if matched and r[2][ctx.method] then
				if r[3] == "manage" and who.may ~= "manage" then
					return page(ctx, 403, "Not allowed", notice(("%s may view but not change the partners of %s"):format(who.jid, module.host), "error"));
				end
				return r[4](ctx, capture);
			end
		end
		return page(ctx, 404, "Not found", notice("There is no such page.", "error"));
	end

	return pages;
end
