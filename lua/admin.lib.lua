-- Administration at runtime (README "Administration"): list, add or edit, and remove partners, for server
-- admins of the host, through ad-hoc commands (XEP-0050 with XEP-0004 forms) and
-- `prosodyctl shell`. Edits are validated exactly like the configuration; an invalid edit
-- returns the error and saves nothing. Partners from the config file are read-only here.

local dataforms_new = require "util.dataforms".new;
local adhoc_simple = require "util.adhoc".new_simple_form;
local jid_bare = require "util.jid".bare;


return function (core, policy)
	local ops = {};

	local function same_domain(a, b)
		return type(a) == "string" and type(b) == "string" and core.normalize(a) == core.normalize(b);
	end

	-- One line per partner, for listings.
	function ops.describe(partner)
		local extra = #partner.additional_domains > 0 and (" +" .. table.concat(partner.additional_domains, ",")) or "";
		return ("%s%s [%s] %s tls=%s sasl=%s dialback=%s (%s)%s"):format(partner.domain, extra,
			policy.is_from_config(partner) and "config" or "runtime", partner.type, partner.tls, partner.sasl,
			tostring(partner.dialback), partner.class, partner.description ~= "" and (" — " .. partner.description) or "");
	end

	function ops.list()
		return policy.compiled and policy.compiled:partners() or {}, policy.error;
	end

	-- Add a runtime partner, or replace the runtime partner with the same primary domain.
	function ops.put(record, actor)
		if type(record) ~= "table" then return nil, "expected a partner record (a table)"; end
		if not policy.compiled then return nil, "the partner configuration is invalid: " .. tostring(policy.error); end
		local existing = type(record.domain) == "string" and policy.compiled:lookup(record.domain);
		if existing and policy.is_from_config(existing) then
			return nil, ("partner %s is defined in the configuration file and is read-only at runtime"):format(existing.domain);
		end
		local records, replaced = {}, false;
		for _, r in ipairs(policy.runtime) do
			if same_domain(r.domain, record.domain) then
				records[#records + 1], replaced = record, true;
			else
				records[#records + 1] = r;
			end
		end
		if not replaced then records[#records + 1] = record; end
		local compiled, warnings = policy.set_runtime(records, (replaced and "edited" or "added") .. " by " .. (actor or "admin"));
		if not compiled then return nil, warnings; end
		module:log("info", "Partner %s %s by %s", tostring(record.domain), replaced and "edited" or "added", actor or "admin");
		return compiled:lookup(record.domain), warnings;
	end

	function ops.remove(domain, actor)
		if type(domain) ~= "string" then return nil, "expected a domain"; end
		local existing = policy.compiled and policy.compiled:lookup(domain);
		if not existing then return nil, ("%s is not a partner"):format(domain); end
		if policy.is_from_config(existing) then
			return nil, ("partner %s is defined in the configuration file and is read-only at runtime"):format(existing.domain);
		end
		local records = {};
		for _, r in ipairs(policy.runtime) do
			if not same_domain(r.domain, existing.domain) then records[#records + 1] = r; end
		end
		local compiled, err = policy.set_runtime(records, "removed by " .. (actor or "admin"));
		if not compiled then return nil, err; end
		module:log("info", "Partner %s removed by %s", existing.domain, actor or "admin");
		return true;
	end

	local function warning_text(warnings)
		local out = {};
		for i, w in ipairs(warnings or {}) do out[i] = tostring(w); end
		return table.concat(out, "\n");
	end

	---------------------------------------------------------------------------------------
	-- Ad-hoc commands.

	module:depends("adhoc");
	local adhoc_new = module:require("adhoc").new;

	local enum = function (values)
		local options = {};
		for i, v in ipairs(values) do options[i] = { label = v, value = v }; end
		return options;
	end

	local put_form = dataforms_new{
		title = "Add or edit a federation partner";
		instructions = "A partner with the same primary domain is replaced. Partners from the config file are read-only.";
		{ name = "FORM_TYPE", type = "hidden", value = "urn:xmpp:s2s-partners:0" };
		{ name = "domain", type = "text-single", required = true, label = "Primary domain" };
		{ name = "description", type = "text-single", label = "Description" };
		{ name = "additional_domains", type = "text-multi", label = "Additional domains (one per line)" };
		{ name = "type", type = "list-single", label = "Partner type", value = "public_unverified",
		  options = enum{ "federated", "public_verified", "public_unverified" } };
		{ name = "tls", type = "list-single", label = "TLS negotiation", value = "required",
		  options = enum{ "required", "optional", "not_supported" } };
		{ name = "sasl", type = "list-single", label = "SASL negotiation", value = "optional",
		  options = enum{ "required", "optional", "not_supported" } };
		{ name = "dialback", type = "boolean", label = "Dialback negotiation", value = true };
	};

	local function lines_of(text)
		local out = {};
		for line in tostring(text or ""):gmatch("[^\r\n]+") do
			line = line:match("^%s*(.-)%s*$");
			if line ~= "" then out[#out + 1] = line; end
		end
		return out;
	end

	local put_handler = adhoc_simple(put_form, function (fields, err, data)
		if err then
			local msg = {};
			for name, e in pairs(err) do msg[#msg + 1] = name .. ": " .. e; end
			return { status = "completed", error = { message = table.concat(msg, "\n") } };
		end
		local record = {
			domain = fields.domain, description = fields.description or "",
			additional_domains = lines_of(fields.additional_domains),
			type = fields.type, tls = fields.tls, sasl = fields.sasl, dialback = fields.dialback,
		};
		local partner, warnings = ops.put(record, jid_bare(data.from));
		if not partner then
			return { status = "completed", error = { message = warnings } };
		end
		local info = "Saved: " .. ops.describe(partner);
		local text = warning_text(warnings);
		if text ~= "" then info = info .. "\nWarning: " .. text; end
		return { status = "completed", info = info };
	end);

	local remove_form = dataforms_new{
		title = "Remove a federation partner";
		{ name = "FORM_TYPE", type = "hidden", value = "urn:xmpp:s2s-partners:0" };
		{ name = "domain", type = "text-single", required = true, label = "Primary domain" };
	};

	local remove_handler = adhoc_simple(remove_form, function (fields, err, data)
		if err then
			return { status = "completed", error = { message = "domain is required" } };
		end
		local ok, rerr = ops.remove(fields.domain, jid_bare(data.from));
		if not ok then return { status = "completed", error = { message = rerr } }; end
		return { status = "completed", info = "Removed " .. fields.domain };
	end);

	local function list_handler()
		local list, err = ops.list();
		local out = {};
		for i, partner in ipairs(list) do out[i] = ops.describe(partner); end
		if err then out[#out + 1] = "Configuration error (all federation refused): " .. err; end
		return { status = "completed", info = #out > 0 and table.concat(out, "\n") or "No partners." };
	end

	module:provides("adhoc", adhoc_new("List federation partners", "urn:xmpp:s2s-partners#list", list_handler, "admin"));
	module:provides("adhoc", adhoc_new("Add or edit a federation partner", "urn:xmpp:s2s-partners#put", put_handler, "admin"));
	module:provides("adhoc", adhoc_new("Remove a federation partner", "urn:xmpp:s2s-partners#remove", remove_handler, "admin"));

	---------------------------------------------------------------------------------------
	-- prosodyctl shell: s2s_partners:list(host), :put(host, record), :remove(host, domain).
	-- The shell environment is global: every host's instance installs the same commands,
	-- which find the instance of the host they are given.

	local get_module = require "core.modulemanager".get_module;
	local function ops_for(host)
		local mod = type(host) == "string" and get_module(host, "s2s_partners");
		if not mod or not mod.s2s_partners_admin then
			return nil, "mod_s2s_partners is not loaded on " .. tostring(host);
		end
		return mod.s2s_partners_admin;
	end

	local shell = {};
	-- luacheck: ignore 212/self
	function shell:list(host)
		local host_ops, err = ops_for(host);
		if not host_ops then return false, err; end
		local list, cerr = host_ops.list();
		for _, partner in ipairs(list) do self.session.print(host_ops.describe(partner)); end
		if cerr then return false, "configuration error, all federation refused: " .. cerr; end
		return true, ("%d partners"):format(#list);
	end
	function shell:put(host, record)
		local host_ops, err = ops_for(host);
		if not host_ops then return false, err; end
		local partner, warnings = host_ops.put(record, "prosodyctl shell");
		if not partner then return false, warnings; end
		local text = warning_text(warnings);
		return true, "Saved: " .. host_ops.describe(partner) .. (text ~= "" and ("; warning: " .. text) or "");
	end
	shell.add = shell.put;
	function shell:remove(host, domain)
		local host_ops, err = ops_for(host);
		if not host_ops then return false, err; end
		local ok, rerr = host_ops.remove(domain, "prosodyctl shell");
		if not ok then return false, rerr; end
		return true, "Removed " .. domain;
	end
	module:shared("/*/admin_shell/env").s2s_partners = shell;

	return ops;
end
