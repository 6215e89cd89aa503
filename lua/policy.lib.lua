-- The partner policy of this host: compiled from the configuration by the C core, kept in force
-- across reloads, and closed to everyone when it could never be compiled (fail closed).

local OPT_LIST, OPT_DEFAULT = "s2s_partners", "s2s_partners_default";

return function (core)
	local self = {
		compiled = nil; -- the policy in force (userdata from core.compile), nil = refuse everyone
		error = nil;    -- why the configuration is not in force, when it is not
	};

	local function warn_about_globals(compiled)
		-- Prosody's own global options are applied by mod_s2s / mod_tls before or after us and
		-- can make a partner's rule impossible; say so at start rather than fail mysteriously.
		local require_encryption = module:get_option_boolean("s2s_require_encryption", true);
		local secure_auth = module:get_option_boolean("s2s_secure_auth", false);
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
			if partner.tls == "not_supported" and not module:get_option_set("s2s_direct_tls_ports", {}):empty() then
				module:log("warn", "Partner %s has tls = \"not_supported\" but s2s_direct_tls_ports is set: "
					.. "direct TLS connections cannot be made plaintext", partner.domain);
			end
		end
	end

	local function describe(partner)
		return ("%s (%s, tls=%s, sasl=%s, dialback=%s)"):format(partner.domain or "default",
			partner.type, partner.tls, partner.sasl, tostring(partner.dialback));
	end

	-- Compile the configured list; returns true or nil, err. Never leaves a half-applied state.
	function self.load(reason)
		local list = module:get_option(OPT_LIST, {});
		local default = module:get_option(OPT_DEFAULT);
		local ok, compiled, warnings = pcall(core.compile, list, default);
		if ok and not compiled then ok, compiled = false, warnings; end
		if not ok then
			local err = tostring(compiled);
			if self.compiled then
				module:log("error", "Invalid %s on %s, keeping the previous partner list in force: %s", OPT_LIST, reason, err);
			else
				module:log("error", "Invalid %s, refusing all server-to-server traffic for %s until it is fixed: %s",
					OPT_LIST, module.host, err);
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
		self.compiled, self.error = compiled, nil;
		module:set_status("core", ("%d partners"):format(#compiled));
		module:log("info", "%d federation partners in force (%s)", #compiled, reason);
		return true;
	end

	-- The partner record that governs `domain` (a listed partner or the default), or
	-- nil, reason where federation with it is not allowed.
	function self.resolve(domain)
		local compiled = self.compiled;
		if not compiled then
			return nil, "the partner configuration of " .. module.host .. " is invalid";
		end
		if not domain then
			return nil, "the remote server did not say which domain it is";
		end
		local partner = compiled:resolve(domain);
		if not partner then
			return nil, domain .. " is not a federation partner of " .. module.host;
		end
		return partner;
	end

	self.load("start");
	module:hook_global("config-reloaded", function ()
		self.load("reload");
	end);

	return self;
end
