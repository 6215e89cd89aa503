-- partners.cert_usage (README "Probe"): key usage and extended key usage of real certificates
-- made by openssl at run time.
local partners = require "s2s_partners"
local certs = require "fixtures.certs"

describe("partners.cert_usage", function()
	local gen = certs.new()
	teardown(function() gen:cleanup() end)

	-- A self-signed certificate with the given -addext extensions, as PEM text.
	local function make(exts)
		gen.n = gen.n + 1
		local out = gen:path(("usage-%d.pem"):format(gen.n))
		local args = {}
		for i, e in ipairs(exts) do args[i] = "-addext '" .. e .. "'" end
		gen:run(("openssl req -x509 -new -key %s -subj /CN=u.test -days 2 %s -out %s")
			:format(gen:key(), table.concat(args, " "), out))
		local f = assert(io.open(out, "rb"))
		local pem = f:read("a")
		f:close()
		return pem
	end

	it("names the key usages and purposes a server certificate lists", function()
		local u = assert(partners.cert_usage(make{ "keyUsage=critical,digitalSignature,keyEncipherment",
			"extendedKeyUsage=serverAuth,clientAuth" }))
		assert.same({ "digitalSignature", "keyEncipherment" }, u.key_usage)
		assert.same({ "serverAuth", "clientAuth" }, u.ext_key_usage)
		assert.is_true(u.server_auth)
		assert.is_true(u.client_auth)
	end)

	it("says when clientAuth is missing (SASL EXTERNAL towards some servers fails)", function()
		local u = assert(partners.cert_usage(make{ "extendedKeyUsage=serverAuth" }))
		assert.same({ "serverAuth" }, u.ext_key_usage)
		assert.is_nil(u.key_usage)
		assert.is_true(u.server_auth)
		assert.is_false(u.client_auth)
		assert.is_false(assert(partners.cert_usage(make{ "extendedKeyUsage=clientAuth" })).server_auth)
	end)

	it("allows every purpose without an extendedKeyUsage extension (RFC 5280 §4.2.1.12)", function()
		local u = assert(partners.cert_usage(make{ "basicConstraints=CA:FALSE" }))
		assert.is_nil(u.ext_key_usage)
		assert.is_true(u.server_auth)
		assert.is_true(u.client_auth)
		assert.is_true(assert(partners.cert_usage(make{ "extendedKeyUsage=anyExtendedKeyUsage" })).client_auth)
	end)

	it("reads the DER form too, and refuses garbage with a reason", function()
		local pem = make{ "extendedKeyUsage=serverAuth" }
		assert.same(partners.cert_usage(pem), partners.cert_usage(gen:der(pem)))
		local ok, err = partners.cert_usage("not a certificate")
		assert.is_nil(ok)
		assert.is_string(err)
		assert.has_error(function() partners.cert_usage(nil) end)
	end)
end)
