package = "mod_s2s_partners"
version = "scm-1"
source = {
	url = "git+https://example.invalid/mod_s2s_partners.git",
}
description = {
	summary = "Per-partner s2s federation policy for Prosody (Lync-style XMPP federated partners)",
	detailed = [[
		A Prosody module that lists federation partners per virtual host and enforces, per partner,
		TLS / SASL EXTERNAL / dialback rules on s2s streams in both directions and the partner
		type's contact rules. Decisions are made by a small C library (libidn2, OpenSSL).
	]],
	license = "MIT",
}
dependencies = {
	"lua >= 5.4",
}
external_dependencies = {
	IDN2 = { header = "idn2.h" },
	OPENSSL = { header = "openssl/evp.h" },
}
build = {
	type = "make",
	build_target = "all",
	install_target = "install",
	-- Everything, the C core included, goes to share/lua/5.4/mod_s2s_partners/: where Prosody's
	-- plugin loader looks in a LuaRocks tree (its installer_plugin_path, `prosodyctl install`),
	-- and the plugin finds s2s_partners.so next to itself (README "Installing").
	install_variables = {
		PREFIX = "$(PREFIX)",
		MODDIR = "$(LUADIR)",
	},
}
