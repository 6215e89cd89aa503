-- Every C entry point of the certificate, pin and dialback code, and of the record schema,
-- refusal texts and compile errors, success and error paths, in a plain Lua state that ends
-- normally (so lua_close runs and valgrind sees every free).
-- Run by `make valgrind`:  lua5.4 spec/valgrind/exercise.lua [plugin dir]
local plugin = arg[1] or os.getenv("S2SP_PLUGIN_DIR") or "build/plugins/mod_s2s_partners"
package.path = "spec/?.lua;" .. package.path
package.cpath = plugin .. "/?.so;" .. package.cpath

local partners = require "s2s_partners"
local certs = require "fixtures.certs"

local gen = certs.new()
local XMPP = "otherName:1.3.6.1.5.5.7.8.5;UTF8:"
local SRV = "otherName:1.3.6.1.5.5.7.8.7;IA5:"
local pems = {
	gen:make{ san = "DNS:a.test,DNS:*.example.test," .. XMPP .. "b.test," .. SRV .. "_xmpp-server.c.test,URI:xmpp:x" },
	gen:make{ subject = "/CN=a.test" },
	gen:make{ subject = "/CN=a.test/CN=b.test" },
	gen:make{ subject = "/O=none", san = "IP:127.0.0.1" },
	gen:make{ alt = { "otherName.0 = 1.3.6.1.5.5.7.8.5;FORMAT:UTF8,UTF8:bücher.example" } },
	gen:make{ san = "DNS:old.test", startdate = "20200101000000Z", enddate = "20200201000000Z" },
}
local inputs = {}
for _, pem in ipairs(pems) do
	inputs[#inputs + 1] = pem
	inputs[#inputs + 1] = gen:der(pem)
end
local chain = pems[1] .. pems[2]
local der = inputs[2]
gen:cleanup()

-- unparsable input of every kind
local bad = { "", "junk", der:sub(1, 100), der .. "x", chain:sub(1, 300), ("x"):rep(300 * 1024),
	"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	"-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END CERTIFICATE-----\n" }

local domains = { "a.test", "b.test", "c.test", "x.example.test", "Bücher.Example.", "nomatch.test", "a..b", "" }
local checks = 0
local function count() checks = checks + 1 end

for _ = 1, 3 do
	for _, input in ipairs(inputs) do
		for _, d in ipairs(domains) do
			partners.cert_identity(input, d); count()
		end
		assert(type(partners.cert_info(input)) == "table"); count()
		partners.cert_expired(input); count()
		partners.cert_expired(input, 0); count()
		local pin = assert(partners.spki_sha256(input)); count()
		assert(partners.pin_match(input, { "00", pin:upper() }) == true); count()
		assert(partners.pin_match(input, {}) == false); count()
	end
	partners.cert_identity(chain, "a.test"); count()
	for _, input in ipairs(bad) do
		assert(partners.cert_identity(input, "a.test") == nil); count()
		assert(partners.cert_info(input) == nil); count()
		assert(partners.cert_expired(input) == nil); count()
		assert(partners.spki_sha256(input) == nil); count()
		assert(partners.pin_match(input, { "00" }) == nil); count()
	end
	-- misuse raises (luaL_argerror); the boxes of the failed calls are freed by __close/__gc
	assert(not pcall(partners.cert_identity, nil, "a.test")); count()
	assert(not pcall(partners.cert_identity, der, nil)); count()
	assert(not pcall(partners.pin_match, der, { "00", 1 })); count()
	assert(not pcall(partners.pin_match, der, "00")); count()
	assert(not pcall(partners.cert_expired, der, "now")); count()
	assert(not pcall(partners.cert_info, {})); count()
	assert(not pcall(partners.spki_sha256)); count()

	local key = assert(partners.dialback_key("secret", "b.test", "a.test", "id")); count()
	assert(partners.dialback_verify("secret", "b.test", "a.test", "id", key) == true); count()
	assert(partners.dialback_verify("secret", "b.test", "a.test", "id", key:upper()) == false); count()
	assert(partners.dialback_verify("secret", "b.test", "a.test", "id", "") == false); count()
	assert(partners.dialback_key(("s"):rep(10000), "", "", ("i"):rep(10000))); count()
	assert(not pcall(partners.dialback_key, "", "b.test", "a.test", "id")); count()
	assert(not pcall(partners.dialback_verify, "s", "b.test", "a.test", "id")); count()

	assert(#partners.schema() == 12); count()
	for _, option in ipairs(partners.options()) do assert(type(option.name) == "string"); count() end
	do -- partner tables built on first use, counted without them
		local policy = assert(partners.compile({ { domain = "l1.test", additional_domains = { "l2.test" } },
			{ domain = "l3.test", tls = "optional", dialback = true } }, { type = "public_verified" }))
		assert(policy:lookup("l2.test") == policy:lookup("l1.test")); count()
		assert(#policy:partners() == 2 and policy:types().public_verified); count()
		assert(policy:count_where("tls", "optional") == 1); count()
		assert(not pcall(policy.count_where, policy, "type", "federated")); count()
		getmetatable(policy).__close(policy)
		assert(#policy:partners() == 2 and not pcall(policy.lookup, policy, "l1.test")); count()
	end
	for _, field in ipairs(partners.schema()) do
		local ok, _, detail = partners.compile({ { domain = "x.test", [field.name] = (field.values or {})[1] or {} } })
		assert(ok or type(detail) == "table"); count()
	end
	for _, row in ipairs({ { "required", "required", true }, { "optional", "optional", false },
		{ "not_supported", "not_supported", true } }) do
		local partner = { tls = row[1], sasl = row[2], dialback = row[3] }
		for _, method in ipairs(partners.methods()) do
			partners.refusal(partner, method.name, ("d"):rep(2000) .. ".test"); count()
		end
		assert(not pcall(partners.refusal, partner, "dialback", "d.test")); count()
	end
	assert(not pcall(partners.refusal, { tls = "yes" }, "sasl_tls", "d.test")); count()
	for _, list in ipairs({ "x", { [2] = {} }, { { domain = "x.test", tsl = 1 } }, { { domain = "x.test" }, { domain = "x.test" } } }) do
		local policy, text, detail = partners.compile(list, { sasl = "yes" })
		assert(policy == nil and type(text) == "string" and type(detail) == "table"); count()
	end
end

collectgarbage()
print(("exercise.lua: %d checks passed"):format(checks))
