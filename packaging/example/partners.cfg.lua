-- Example partner configuration for mod_s2s_partners (used by `make run`).
-- Paths, ports and certificates are set by scripts/run-example.sh, which Includes this file.

-- Prosody's own global rules would override per-partner ones: let the module enforce them.
s2s_require_encryption = false
s2s_secure_auth = false

VirtualHost "example.test"
	modules_enabled = { "s2s_partners" }

	s2s_partners = {
		{
			domain = "fabrikam.com";
			description = "Fabrikam, our main supplier";
			additional_domains = { "corp.fabrikam.com", "it.fabrikam.com" };
			type = "federated";
			tls = "required"; sasl = "required"; dialback = false;
		};
		{
			domain = "contoso.com";
			description = "Contoso: certificates not always trusted, dialback over TLS is fine";
			type = "public_verified";
			tls = "required"; sasl = "optional"; dialback = true;
		};
		{
			domain = "bücher.example"; -- IDN domains may be written as U-labels
			description = "A bookshop on an old server without TLS";
			type = "public_unverified";
			tls = "not_supported"; sasl = "not_supported"; dialback = true;
		};
	}

	-- Everyone else: no federation (the default). To federate with unlisted domains, e.g.:
	-- s2s_partners_default = { type = "public_unverified"; tls = "required"; sasl = "optional"; dialback = true };
