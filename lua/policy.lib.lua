-- The partner policy of this host: compiled from the configuration by the C core, kept in force
-- across reloads, and closed to everyone when it could never be compiled (fail closed). An
-- unusable dialback_secret counts as an invalid configuration too: every dialback would fail.

local OPT_LIST, OPT_DEFAULT, OPT_SECRET = "s2s_partners", "s2s_partners_default", "dialback_secret";

-- Why a dialback_secret value cannot be used (README "Options"), or nil: unset is fine (a random
-- secret), anything but a non-empty string is not. dialback.lib.lua applies the same function.
local function secret_problem(value)
	if value == nil or (type(value) == "string" and value ~= "") then return nil; end
	return ("expected a non-empty string, got %s"):format(value == "" and "an empty string" or type(value));
end

return function (core)
	local self = {
		secret_problem = secret_problem; -- for dialback.lib.lua
		compiled = nil; -- the policy in force (userdata from core.compile), nil = refuse everyone
		error = nil;    -- why the configuration is not in force, when it is not
		runtime = {};   -- partner records added by admins at runtime, in order (runtime.lib.lua keeps them)
		from_config = 0; -- how many of the compiled partners come from the config file
		-- [partner type] = true for each type some partner (or the default) of the policy in force
		-- has: a per-stanza hook whose rule concerns one type returns at once when none has it.
		types = {};
	};
	local listeners = {}; -- called with the new compiled policy after every change

	-- Runtime partners are numbered after the config's: name them as such in errors, and say
	-- which runtime record it is in the detail (runtime_index).
	local function runtime_error(err, detail, n_config)
		local i = detail.index;
		if not i or i <= n_config then return err; end
		detail.runtime_index = i - n_config;
		local head = ("partner %d"):format(i); -- how the core's text names that record
		return ("runtime partner %d%s"):format(i - n_config, err:sub(#head + 1));
	end

	-- The config file's list (a table, or anything for the core to name), the runtime records
	-- and the default, compiled together: compiled, warnings, n_config or nil, err, detail (the
	-- core's: index, field, message; see partners.compile). The core checks the list exactly as
	-- written first, so holes (a nil, e.g. an undefined variable, in the list) and stray keys are
	-- refused like any other invalid list (README "Configuration") rather than hidden by the
	-- copy the runtime partners are appended to.
	local function compile(list, runtime, default)
		local config, warnings, detail = core.compile(list, default);
		if not config then
			local err = warnings;
			if detail.hole then
				err = ("%s (entry %d is nil)"):format(err, detail.hole);
			end
			return nil, err, detail;
		end
		local n_config = #config;
		if runtime[1] == nil then return config, warnings, n_config; end
		local all = {};
		for i = 1, n_config do all[i] = rawget(list, i); end
		for _, record in ipairs(runtime) do all[#all + 1] = record; end
		local compiled, err, refused = core.compile(all, default);
		if not compiled then return nil, runtime_error(err, refused, n_config), refused; end
		return compiled, err, n_config; -- err: the warnings
	end

	-- Prosody's own options that bear on what a partner's rule can do (README "Options"); read
	-- here for the warnings below and for explain.lib.lua.
	function self.prosody_options()
		return {
			require_encryption = module:get_option_boolean("s2s_require_encryption", true);
			secure_auth = module:get_option_boolean("s2s_secure_auth", false);
			direct_tls = not module:get_option_set("s2s_direct_tls_ports", {}):empty();
		};
	end

	local function warn_about_globals(compiled)
		-- Prosody's own global options are applied by mod_s2s / mod_tls before or after us and
		-- can make a partner's rule impossible; say so at start rather than fail mysteriously.
		local options = self.prosody_options();
		local require_encryption, secure_auth = options.require_encryption, options.secure_auth;
		for _, partner in ipairs(compiled:partners()) do
			if require_encryption and partner.tls ~= "required" then
				module:log("warn", "Partner %s has tls = %q but s2s_require_encryption is on: Prosody will refuse its "
					.. "unencrypted streams; set s2s_require_encryption = false (the module enforces tls = required itself)",
					partner.domain, partner.tls);
			end
			if secure_auth and partner.dialback then
				module:log("warn", "Partner %s allows dialback but s2s_secure_auth is on: Prosody will refuse its streams "
					.. "without a trusted certificate; set s2s_secure_auth = false (the module enforces SASL rules itself)",
					partner.domain);
			end
			if partner.tls == "not_supported" and options.direct_tls then
				module:log("warn", "Partner %s has tls = \"not_supported\" but s2s_direct_tls_ports is set: "
					.. "direct TLS connections cannot be made plaintext", partner.domain);
			end
		end
	end

	local function types_of(compiled)
		local types = {};
		for _, partner in ipairs(compiled:partners()) do types[partner.type] = true; end
		local default_partner = compiled:default();
		if default_partner then types[default_partner.type] = true; end
		return types;
	end

	local function describe(partner)
		return ("%s (%s, tls=%s, sasl=%s, dialback=%s)"):format(partner.domain or "default",
			partner.type, partner.tls, partner.sasl, tostring(partner.dialback));
	end

	-- Check dialback_secret and compile the configured list; returns true or nil, err. Never
	-- leaves a half-applied state.
	function self.load(reason)
		local option, err = OPT_SECRET, secret_problem(module:get_option(OPT_SECRET));
		if err then err = OPT_SECRET .. ": " .. err; end
		local ok, compiled, warnings, n_config;
		if not err then
			option = OPT_LIST;
			ok, compiled, warnings, n_config = pcall(compile, module:get_option(OPT_LIST, {}), self.runtime,
				module:get_option(OPT_DEFAULT));
			if not ok then
				err = tostring(compiled);
			elseif not compiled then
				err = warnings;
			end
		end
		if err then
			if self.compiled then
				module:log("error", "Invalid %s on %s, keeping the previous partner list in force: %s", option, reason, err);
			else
				module:log("error", "Invalid %s, refusing all server-to-server traffic for %s until it is fixed: %s",
					option, module.host, err);
				module:set_status("error", "Invalid partner configuration: " .. err);
			end
			self.error = err;
			return nil, err;
		end
		for _, warning in ipairs(warnings) do
			module:log("warn", "%s", tostring(warning));
		end
		for _, partner in ipairs(compiled:partners()) do
			if partner.class == "valid" and partner.message then
				module:log("info", "Partner %s: %s", partner.domain, partner.message);
			end
			module:log("debug", "Partner %s", describe(partner));
		end
		local default_partner = compiled:default();
		if default_partner then
			module:log("info", "Unlisted domains federate with the default policy %s", describe(default_partner));
		end
		warn_about_globals(compiled);
		self.compiled, self.error, self.from_config, self.types = compiled, nil, n_config, types_of(compiled);
		for _, listener in ipairs(listeners) do listener(compiled); end
		module:set_status("core", ("%d partners"):format(#compiled));
		module:log("info", "%d federation partners in force (%s)", #compiled, reason);
		return true;
	end

	-- Partners by domain as asked, for the policy `memo_of` (README "Performance": every stanza
	-- resolves its domain, and a Lua table answers in a fraction of the C core's time through the
	-- call). Emptied when another policy is in force, and when it reaches MEMO_MAX domains
	-- (remote servers and local users choose them). Only partners: a refusal is worded anew.
	local MEMO_MAX = 4096;
	local memo, memo_of, memo_n = {}, nil, 0;

	-- The partner record that governs `domain` (a listed partner or the default), or
	-- nil, reason where federation with it is not allowed.
	function self.resolve(domain)
		local compiled = self.compiled;
		if compiled ~= memo_of then memo, memo_of, memo_n = {}, compiled, 0; end
		local partner = domain and memo[domain];
		if partner then return partner; end
		if not compiled then
			return nil, "the partner configuration of " .. module.host .. " is invalid";
		end
		if not domain then
			return nil, "the remote server did not say which domain it is";
		end
		partner = compiled:resolve(domain);
		if not partner then
			return nil, domain .. " is not a federation partner of " .. module.host;
		end
		if memo_n >= MEMO_MAX then memo, memo_n = {}, 0; end
		memo[domain], memo_n = partner, memo_n + 1;
		return partner;
	end

	-- Would `records` as the runtime list compile with the config file's? compiled, warnings or
	-- nil, err, detail (runtime.lib.lua checks an edit with it before saving anything).
	function self.check(records)
		return compile(module:get_option(OPT_LIST, {}), records, module:get_option(OPT_DEFAULT));
	end

	-- Does `partner` allow `method` ("sasl_tls" | "tls_dialback" | "tcp_dialback")?
	function self.allows(partner, method)
		for _, m in ipairs(partner.methods) do
			if m == method then return true; end
		end
		return false;
	end

	-- Is this partner (a compiled record) one of the config file's (read-only at runtime)?
	function self.is_from_config(partner)
		return partner.index ~= nil and partner.index <= self.from_config;
	end

	function self.on_change(listener)
		listeners[#listeners + 1] = listener;
	end

	-- The first load is runtime.lib.lua's, once it has read the runtime list from storage.
	module:hook_global("config-reloaded", function ()
		self.load("reload");
	end);

	return self;
end
