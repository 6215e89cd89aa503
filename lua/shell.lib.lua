-- prosodyctl shell commands (README "Administration"), one definition for both Prosody versions:
--   s2s_partners:list(host)               s2s_partners:show(host, domain)
--   s2s_partners:put(host, record)        s2s_partners:unset(host, domain, field)
--   s2s_partners:remove(host, domain)     s2s_partners:explain(host, domain)
--   s2s_partners:status(host [, domain])  s2s_partners:audit(host [, n])
--   s2s_partners:probe(host, domain [, authenticate])
-- On Prosody 13 they are registered as shell-command items (section, descriptions, arguments:
-- `help s2s_partners` lists them and `prosodyctl shell s2s_partners list example.com` works;
-- put takes the record's fields as --flags there). On 0.12 they go into the shared shell
-- environment, which is global: each command finds the instance of the host it is given.

local get_module = require "core.modulemanager".get_module;

local SECTION = "s2s_partners";

-- `admin`: { core, compat, ops, explain, status, render, probe, proberender } (mod_s2s_partners.lua).
return function (admin)
	local core, compat, ops, explain, status, render = admin.core, admin.compat, admin.ops, admin.explain, admin.status,
		admin.render;
	local schema = core.schema();
	local WHO = { actor = "prosodyctl shell", interface = "shell" };

	local function print_lines(self, lines)
		for _, line in ipairs(lines) do self.session.print(line); end
	end
	local function print_table(self, columns, rows)
		print_lines(self, render.lines(columns, rows));
	end

	local function saved(partner, warnings)
		local text = table.concat(warnings or {}, "; ");
		return true, "Saved: " .. render.describe(partner, ops.origin(partner)) .. (text ~= "" and ("; warning: " .. text) or "");
	end

	-- `prosodyctl shell s2s_partners put HOST --domain x --tls optional …` (Prosody 13): the
	-- flags arrive as strings (lists as repeated flags or comma-separated); give them the
	-- record's types. Unknown flags were refused by the shell already.
	local function record_from_flags(flags)
		local record = {};
		for _, field in ipairs(schema) do
			local v = flags[field.name];
			if v ~= nil then
				if field.type == "boolean" and type(v) == "string" then
					local b = ({ ["true"] = true, ["1"] = true, ["false"] = false, ["0"] = false })[v];
					if b == nil then return nil, ("--%s: expected true or false, got %q"):format(field.name, v); end
					v = b;
				elseif field.type == "integer" then
					v = math.tointeger(tonumber(v)) or v; -- anything else: the validator names it
				elseif field.type == "domain_list" or field.type == "pin_list" then
					local list = {};
					for _, item in ipairs(type(v) == "table" and v or { v }) do
						for part in tostring(item):gmatch("[^,%s]+") do list[#list + 1] = part; end
					end
					v = list;
				end
				record[field.name] = v;
			end
		end
		return record;
	end

	local commands = {
		{ name = "list", desc = "List the federation partners of a host", args = { { name = "host", type = "string" } },
			run = function (self)
				local list, err = ops.list();
				print_table(self, render.list_columns, render.list_rows(list, ops.origin, ops.streams_up()));
				if err then return false, "configuration error, all federation refused: " .. err; end
				return true, ("%d partners"):format(#list);
			end },
		{ name = "show", desc = "Show every field of the partner owning a domain", args = { { name = "host", type = "string" },
			{ name = "domain", type = "string" } },
			run = function (self, _, domain)
				local partner, origin, record = ops.show(domain);
				if not partner then return false, origin; end
				print_table(self, render.show_columns, render.show_rows(partner, origin, record));
				return true, ("partner %s (%s)"):format(partner.domain, origin);
			end },
		{ name = "put", desc = "Add a runtime partner, or change fields of one (the others keep their values)",
			args = { { name = "host", type = "string" }, { name = "record", type = "table" } },
			run = function (_, _, record, flags)
				if record == nil and type(flags) == "table" then
					local err;
					record, err = record_from_flags(flags);
					if not record then return false, err; end
				end
				local partner, warnings = ops.put(record, WHO);
				if not partner then return false, warnings; end
				return saved(partner, warnings);
			end },
		{ name = "unset", desc = "Put one field of a runtime partner back to its default",
			args = { { name = "host", type = "string" }, { name = "domain", type = "string" }, { name = "field", type = "string" } },
			run = function (_, _, domain, field)
				local partner, warnings = ops.unset(domain, field, WHO);
				if not partner then return false, warnings; end
				return saved(partner, warnings);
			end },
		{ name = "remove", desc = "Remove a runtime partner", args = { { name = "host", type = "string" },
			{ name = "domain", type = "string" } },
			run = function (_, _, domain)
				local ok, err = ops.remove(domain, WHO);
				if not ok then return false, err; end
				return true, "Removed " .. tostring(domain);
			end },
		{ name = "explain", desc = "Dry run: which partner owns a domain and what its streams would do",
			args = { { name = "host", type = "string" }, { name = "domain", type = "string" } },
			run = function (self, _, domain)
				local result, err = explain(domain);
				if not result then return false, err; end
				print_table(self, render.pair_columns, render.explain_rows(result));
				if result.owner == "refused" then return true, "refused: " .. tostring(result.refused); end
				return true, ("%s: %s"):format(result.domain, result.owner == "default" and "default policy"
					or ("partner " .. result.partner.domain));
			end },
		{ name = "status", desc = "Streams up, last attempts per partner, and refused unlisted domains",
			args = { { name = "host", type = "string" }, { name = "domain", type = "string" } },
			run = function (self, _, domain)
				local report, err = status.report(domain);
				if not report then return false, err; end
				print_lines(self, render.status_lines(report));
				local up = 0;
				for _, entry in ipairs(report.partners or {}) do up = up + #(entry.streams or {}); end
				if report.default then up = up + #(report.default.streams or {}); end
				return true, ("%d partners, %d streams up"):format(#(report.partners or {}), up);
			end },
		{ name = "probe", desc = "Test a partner's server now (DNS, TLS, certificate, methods) against its rule",
			args = { { name = "host", type = "string" }, { name = "domain", type = "string" },
				{ name = "authenticate", type = "boolean" } },
			run = function (self, _, domain, authenticate)
				local on = authenticate == true or authenticate == "true" or authenticate == "1";
				local result, err = admin.probe.now(domain, { actor = WHO.actor, authenticate = on });
				if not result then return false, err; end
				print_table(self, render.pair_columns, admin.proberender.rows(result));
				return true, result.summary;
			end },
		{ name = "audit", desc = "The last runtime changes of the partner list (default 20)",
			args = { { name = "host", type = "string" }, { name = "n", type = "number" } },
			run = function (self, _, n)
				local entries, err = ops.audit(n);
				if not entries then return false, "could not read the audit log: " .. tostring(err); end
				print_table(self, render.audit_columns, render.audit_rows(entries));
				return true, ("%d changes shown"):format(#entries);
			end },
	};

	local put_flags = { value_params = {}, array_params = {}, kv_params = {} };
	for _, field in ipairs(schema) do
		local kind = (field.type == "boolean" and "kv_params")
			or ((field.type == "domain_list" or field.type == "pin_list") and "array_params") or "value_params";
		put_flags[kind][field.name] = true;
	end

	if compat.is_13() then
		for _, command in ipairs(commands) do
			module:add_item("shell-command", {
				section = SECTION; section_desc = "Federation partners (mod_s2s_partners)";
				name = command.name; desc = command.desc; args = command.args; host_selector = "host";
				flags = command.name == "put" and put_flags or nil;
				handler = command.run;
			});
		end
		return;
	end

	-- Prosody 0.12: the shared environment; this instance answers for its own host.
	module.environment.s2s_partners_shell = commands;
	local env = {};
	for _, command in ipairs(commands) do
		env[command.name] = function (self, host, ...)
			local mod = type(host) == "string" and get_module(host, "s2s_partners");
			local impl = mod and mod.s2s_partners_shell;
			if not impl then return false, "mod_s2s_partners is not loaded on " .. tostring(host); end
			for _, c in ipairs(impl) do
				if c.name == command.name then return c.run(self, host, ...); end
			end
		end;
	end
	env.add = env.put;
	module:shared("/*/admin_shell/env").s2s_partners = env;
end
