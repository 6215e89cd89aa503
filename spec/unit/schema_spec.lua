-- partners.schema(), partners.options(), partners.methods(), partners.refusal() and the detail
-- of partners.compile()'s refusals: the partner record as README "Partner record" describes it,
-- and the texts of README "Negotiation results".
local partners = require "s2s_partners"

local R, O, N = "required", "optional", "not_supported"
local ORDER = { "domain", "description", "additional_domains", "type", "tls", "sasl", "dialback",
	"connection_limit", "keepalive", "connect", "auto_approve", "pin" }
local TYPES = { domain = true, string = true, domain_list = true, enum = true, boolean = true, integer = true,
	hostport = true, pin_list = true }

local function by_name(list)
	local t = {}
	for _, entry in ipairs(list) do t[entry.name] = entry end
	return t
end

-- The one partner compiled from `record`.
local function compiled(record)
	local policy, err = partners.compile({ record })
	assert(policy, err)
	return policy:partners()[1]
end

-- nil, text, detail of a refused compile(list [, default]).
local function refusal_of(list, default)
	local policy, text, detail = partners.compile(list, default)
	assert.is_nil(policy)
	return text, detail
end

describe("partners.schema", function()
	it("lists the record's fields in README order", function()
		local names = {}
		for i, field in ipairs(partners.schema()) do names[i] = field.name end
		assert.same(ORDER, names)
	end)

	it("describes every field with a type, a label and the README's texts", function()
		for _, field in ipairs(partners.schema()) do
			assert.is_true(TYPES[field.type], field.name)
			assert.equal(field.name == "domain", field.required)
			for _, key in ipairs({ "label", "description", "type_text", "default_text" }) do
				assert.equal("string", type(field[key]), field.name .. "." .. key)
				assert.is_true(#field[key] > 0, field.name .. "." .. key)
			end
			assert.matches("^[^`]+%.$", field.description, nil, false, field.name .. ": one plain sentence")
			assert.equal(field.type == "enum", field.values ~= nil, field.name)
			assert.equal(field.type == "enum", field.lync_values ~= nil, field.name)
			assert.equal(field.type == "integer", field.min ~= nil, field.name)
		end
	end)

	it("names the Lync / Skype for Business property of each field that has one", function()
		local lync = {}
		for _, field in ipairs(partners.schema()) do lync[#lync + 1] = field.lync or "-" end
		assert.same({ "Domain", "Description", "AdditionalDomains", "PartnerType", "TlsNegotiation",
			"SaslNegotiation", "SupportDialbackNegotiation", "ConnectionLimit", "EnableKeepAlive", "ProxyFqdn",
			"-", "-" }, lync)
		local fields = by_name(partners.schema())
		assert.same({ "Federated", "PublicVerified", "PublicUnverified" }, fields.type.lync_values)
		assert.same({ "Required", "Optional", "NotSupported" }, fields.tls.lync_values)
		assert.same({ "Required", "Optional", "NotSupported" }, fields.sasl.lync_values)
	end)

	it("lists the enum values compile() accepts, and only those", function()
		local fields = by_name(partners.schema())
		assert.same({ "federated", "public_verified", "public_unverified" }, fields.type.values)
		assert.same({ R, O, N }, fields.tls.values)
		assert.same({ R, O, N }, fields.sasl.values)
		for _, field in ipairs(partners.schema()) do
			for _, value in ipairs(field.values or {}) do
				assert.equal(value, compiled({ domain = "x.test", [field.name] = value })[field.name])
				local text, detail = refusal_of({ { domain = "x.test", [field.name] = value:upper() } })
				assert.equal(field.name, detail.field, text)
			end
			if field.values then
				-- the refusal lists the same values
				local quoted = {}
				for i, value in ipairs(field.values) do quoted[i] = ('"%s"'):format(value) end
				local expected = table.concat(quoted, ", ", 1, #quoted - 1) .. " or " .. quoted[#quoted]
				local _, detail = refusal_of({ { domain = "x.test", [field.name] = "x" } })
				assert.equal(('field "%s": expected %s, got "x"'):format(field.name, expected), detail.message)
			end
		end
	end)

	it("has the defaults compile() fills in for a record with only a domain", function()
		local partner = compiled({ domain = "x.test" })
		local default = assert(partners.compile({}, {})):default()
		for _, field in ipairs(partners.schema()) do
			if field.name == "domain" then
				assert.is_nil(field.default)
			elseif field.name == "auto_approve" then
				-- depends on the type: README "Partner types"
				assert.is_nil(field.default)
				for _, t in ipairs(field.values or by_name(partners.schema()).type.values) do
					assert.equal(t ~= "public_unverified", compiled({ domain = "x.test", type = t }).auto_approve)
				end
			else
				assert.same(field.default, partner[field.name], field.name)
				assert.same(field.default, default[field.name], "default partner: " .. field.name)
			end
		end
	end)

	it("writes the defaults validate_fields.c applies", function()
		local fields = by_name(partners.schema())
		assert.equal("public_unverified", fields.type.default)
		assert.equal(R, fields.tls.default)
		assert.equal(O, fields.sasl.default)
		assert.is_true(fields.dialback.default)
		assert.is_true(fields.keepalive.default)
		assert.equal("", fields.description.default)
		assert.same({}, fields.additional_domains.default)
		assert.equal(1, fields.connection_limit.min)
	end)

	it("enforces connection_limit's min", function()
		local min = by_name(partners.schema()).connection_limit.min
		assert.equal(min, compiled({ domain = "x.test", connection_limit = min }).connection_limit)
		local _, detail = refusal_of({ { domain = "x.test", connection_limit = min - 1 } })
		assert.equal(("field \"connection_limit\": expected an integer >= %d, got %d"):format(min, min - 1),
			detail.message)
	end)

	it("returns fresh tables on every call", function()
		local a, b = partners.schema(), partners.schema()
		assert.are_not.equal(a, b)
		assert.are_not.equal(a[1], b[1])
		a[3].default[1] = "changed"
		a[4].values[1] = "changed"
		a[1].name = "changed"
		table.remove(a, 1)
		local c = partners.schema()
		assert.same(b, c)
		assert.same({}, c[3].default)
	end)
end)

describe("partners.options", function()
	it("lists the module's own options in README order, fresh on every call", function()
		local a = partners.options()
		local names = {}
		for i, option in ipairs(a) do
			names[i] = option.name
			assert.equal("string", type(option.default_text))
			assert.equal("string", type(option.description))
		end
		assert.same({ "s2s_partners", "s2s_partners_default", "s2s_partners_web" }, names)
		a[1].name = "changed"
		assert.equal("s2s_partners", partners.options()[1].name)
	end)
end)

describe("partners.methods", function()
	it("lists the methods in report order with their labels, fresh on every call", function()
		local expected = {
			{ name = "sasl_tls", label = "SASL EXTERNAL over TLS" },
			{ name = "tls_dialback", label = "dialback over TLS" },
			{ name = "tcp_dialback", label = "dialback without TLS" },
		}
		local a = partners.methods()
		assert.same(expected, a)
		a[1].label = "changed"
		assert.same(expected, partners.methods())
	end)
end)

describe("partners.refusal", function()
	local D = "d.test"
	local REQUIRES_TLS = D .. " requires TLS"
	local BOTH = D .. " requires SASL EXTERNAL: dialback will not operate if both SASL and TLS are required"
	local NO_DIALBACK = "dialback is not allowed with " .. D
	local NO_SASL = "SASL EXTERNAL is not allowed with " .. D
	local NO_TLS = "TLS is not supported with " .. D

	-- { tls, sasl, dialback, refused methods and their texts } — README "Negotiation matrix" order
	local rows = {
		{ R, R, true, { tls_dialback = BOTH, tcp_dialback = REQUIRES_TLS } },
		{ R, R, false, { tls_dialback = NO_DIALBACK, tcp_dialback = REQUIRES_TLS } },
		{ O, R, true, {} },
		{ O, R, false, { tls_dialback = NO_DIALBACK, tcp_dialback = NO_DIALBACK } },
		{ N, R, true, { sasl_tls = NO_TLS, tls_dialback = NO_TLS } },
		{ N, R, false, { sasl_tls = NO_TLS, tls_dialback = NO_DIALBACK, tcp_dialback = NO_DIALBACK } },
		{ R, O, true, { tcp_dialback = REQUIRES_TLS } },
		{ R, O, false, { tls_dialback = NO_DIALBACK, tcp_dialback = REQUIRES_TLS } },
		{ O, O, true, {} },
		{ O, O, false, { tls_dialback = NO_DIALBACK, tcp_dialback = NO_DIALBACK } },
		{ N, O, true, { sasl_tls = NO_TLS, tls_dialback = NO_TLS } },
		{ N, O, false, { sasl_tls = NO_TLS, tls_dialback = NO_DIALBACK, tcp_dialback = NO_DIALBACK } },
		{ R, N, true, { sasl_tls = NO_SASL, tcp_dialback = REQUIRES_TLS } },
		{ R, N, false, { sasl_tls = NO_SASL, tls_dialback = NO_DIALBACK, tcp_dialback = REQUIRES_TLS } },
		{ O, N, true, { sasl_tls = NO_SASL } },
		{ O, N, false, { sasl_tls = NO_SASL, tls_dialback = NO_DIALBACK, tcp_dialback = NO_DIALBACK } },
		{ N, N, true, { sasl_tls = NO_SASL, tls_dialback = NO_TLS } },
		{ N, N, false, { sasl_tls = NO_SASL, tls_dialback = NO_DIALBACK, tcp_dialback = NO_DIALBACK } },
	}

	it("has a test row for each of the 18 combinations", function()
		local seen, n = {}, 0
		for _, row in ipairs(rows) do
			local key = row[1] .. "/" .. row[2] .. "/" .. tostring(row[3])
			if not seen[key] then n = n + 1 end
			seen[key] = true
		end
		assert.equal(18, n)
	end)

	for _, row in ipairs(rows) do
		local tls, sasl, dialback, texts = table.unpack(row, 1, 4)
		it(("refuses what tls=%s sasl=%s dialback=%s does not allow, and nothing else"):format(tls, sasl, dialback), function()
			local class, methods = partners.classify(tls, sasl, dialback)
			local partner = { tls = tls, sasl = sasl, dialback = dialback }
			if class ~= "invalid" then
				partner = compiled({ domain = "x.test", tls = tls, sasl = sasl, dialback = dialback })
				methods = partner.methods
			end
			local allowed = {}
			for _, m in ipairs(methods) do allowed[m] = true end
			for _, m in ipairs(partners.methods()) do
				local text = partners.refusal(partner, m.name, D)
				assert.equal(texts[m.name], text, m.name)
				assert.equal(allowed[m.name] == true, text == nil, m.name)
			end
		end)
	end

	it("names the domain as given, byte for byte", function()
		local partner = compiled({ domain = "x.test" })
		assert.equal("a\0b requires TLS", partners.refusal(partner, "tcp_dialback", "a\0b"))
	end)

	it("raises an argument error for an unknown method or something that is not a partner", function()
		local partner = compiled({ domain = "x.test" })
		assert.has_error(function() partners.refusal(partner, "dialback", D) end,
			"bad argument #2 to 'refusal' (unknown method \"dialback\")")
		assert.has_error(function() partners.refusal(partner, nil, D) end)
		assert.has_error(function() partners.refusal(partner, "sasl_tls") end)
		assert.has_error(function() partners.refusal({ tls = "yes", sasl = O, dialback = true }, "sasl_tls", D) end)
		assert.has_error(function() partners.refusal({ tls = R, sasl = O }, "sasl_tls", D) end)
		assert.has_error(function() partners.refusal("x.test", "sasl_tls", D) end)
	end)
end)

describe("partners.compile's refusal detail", function()
	-- { description, list, default, text, detail }
	local cases = {
		{ "an unknown field", { { domain = "x.test" }, { domain = "y.test", tsl = R } }, nil,
			'partner 2 (y.test): unknown field "tsl"',
			{ index = 2, field = "tsl", message = 'unknown field "tsl"' } },
		{ "a bad enum value", { { domain = "x.test", type = "partner" } }, nil,
			'partner 1 (x.test): field "type": expected "federated", "public_verified" or "public_unverified", got "partner"',
			{ index = 1, field = "type",
				message = 'field "type": expected "federated", "public_verified" or "public_unverified", got "partner"' } },
		{ "a wrong type", { { domain = "x.test", dialback = "no" } }, nil,
			'partner 1 (x.test): field "dialback": expected boolean, got string',
			{ index = 1, field = "dialback", message = 'field "dialback": expected boolean, got string' } },
		{ "a bad pin in a list", { { domain = "x.test", pin = { ("a"):rep(64), "x" } } }, nil,
			'partner 1 (x.test): field "pin": entry 2: expected a SHA-256 fingerprint (64 hex digits, colons allowed '
				.. 'between pairs), got "x"',
			{ index = 1, field = "pin", message = 'field "pin": entry 2: expected a SHA-256 fingerprint (64 hex '
				.. 'digits, colons allowed between pairs), got "x"' } },
		{ "a missing domain", { { tls = R } }, nil, 'partner 1: field "domain" is required',
			{ index = 1, field = "domain", message = 'field "domain" is required' } },
		{ "a hole in the list", { [1] = { domain = "x.test" }, [3] = { domain = "y.test" } }, nil,
			"partners: expected a list of partner records, got a table with holes",
			{ hole = 2, message = "expected a list of partner records, got a table with holes" } },
		{ "a hole at the start", { [2] = { domain = "x.test" } }, nil,
			"partners: expected a list of partner records, got a table with holes",
			{ hole = 1, message = "expected a list of partner records, got a table with holes" } },
		{ "no list", "x.test", nil, "partners: expected a list of partner records, got string",
			{ message = "expected a list of partner records, got string" } },
		{ "the default partner's field", {}, { sasl = "yes" },
			'default partner: field "sasl": expected "required", "optional" or "not_supported", got "yes"',
			{ index = 0, field = "sasl", message = 'field "sasl": expected "required", "optional" or "not_supported", got "yes"' } },
		{ "a domain on the default partner", {}, { domain = "x.test" }, 'default partner: field "domain" is not allowed',
			{ index = 0, field = "domain", message = 'field "domain" is not allowed' } },
		{ "a domain taken by another partner", { { domain = "x.test" }, { domain = "y.test", additional_domains = { "X.test" } } },
			nil, 'partner 2 (y.test): domain "x.test" already belongs to partner 1 (x.test)',
			{ index = 2, field = "additional_domains", owner = 1, message = 'domain "x.test" already belongs to partner 1 (x.test)' } },
		{ "a primary domain listed twice", { { domain = "x.test" }, { domain = "X.Test." } }, nil,
			'partner 2 (X.Test.): domain "x.test" already belongs to partner 1 (x.test)',
			{ index = 2, field = "domain", owner = 1, message = 'domain "x.test" already belongs to partner 1 (x.test)' } },
		{ "an additional domain listed twice", { { domain = "x.test", additional_domains = { "y.test", "Y.test" } } }, nil,
			'partner 1 (x.test): domain "y.test" is listed twice',
			{ index = 1, field = "additional_domains", message = 'domain "y.test" is listed twice' } },
		{ "an invalid combination (about no one field)", { { domain = "x.test", tls = N, sasl = N, dialback = false } }, nil,
			'partner 1 (x.test): tls = "not_supported", sasl = "not_supported", dialback = false: SASL or dialback must be enabled.',
			{ index = 1, message = 'tls = "not_supported", sasl = "not_supported", dialback = false: SASL or dialback must be enabled.' } },
		{ "auto_approve on public_unverified", { { domain = "x.test", auto_approve = true } }, nil,
			"partner 1 (x.test): auto_approve applies only to federated and public_verified partners",
			{ index = 1, field = "auto_approve", message = "auto_approve applies only to federated and public_verified partners" } },
		{ "a record that is not a table", { "x.test" }, nil, "partner 1: expected a table, got string",
			{ index = 1, message = "expected a table, got string" } },
		{ "a positional entry", { { domain = "x.test", "y.test" } }, nil,
			"partner 1 (x.test): unexpected list entry [1] (fields are written name = value)",
			{ index = 1, message = "unexpected list entry [1] (fields are written name = value)" } },
	}

	for _, case in ipairs(cases) do
		local description, list, default, text, detail = table.unpack(case, 1, 5)
		it("says where the refusal is: " .. description, function()
			local got_text, got_detail = refusal_of(list, default)
			assert.equal(text, got_text)
			assert.same(detail, got_detail)
		end)
	end

	it("returns the text the detail's message ends, behind the record's name", function()
		local text, detail = refusal_of({ { domain = "x.test" }, { domain = "y.test", tls = 1 } })
		assert.equal("partner 2 (y.test): " .. detail.message, text)
	end)

	it("returns two values on success, as before", function()
		assert.equal(2, select("#", partners.compile({ { domain = "x.test" } })))
		assert.equal(3, select("#", partners.compile({ { domain = 1 } })))
	end)
end)
