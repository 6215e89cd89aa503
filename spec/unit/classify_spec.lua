-- partners.classify: the negotiation matrix of README "Negotiation matrix", all 18 rows.
local partners = require "s2s_partners"

local BOTH = "Dialback will not operate if both SASL and TLS are required."
local SASL_TLS = "SASL requires TLS. Allowing TLS to be optional may result in failed session negotiations."
local NO_TLS = "SASL requires TLS, and TLS is not available; dialback is off and cannot be used."
local NOTHING = "SASL or dialback must be enabled."
local TCP_ONLY = "TCP dialback is the only negotiation method available."

local R, O, N = "required", "optional", "not_supported"

-- { tls, sasl, dialback, methods, class, message } — README "Negotiation matrix", row by row
local rows = {
	{ R, R, true, { "sasl_tls" }, "warning", BOTH },
	{ R, R, false, { "sasl_tls" }, "valid", nil },
	{ O, R, true, { "sasl_tls", "tls_dialback", "tcp_dialback" }, "warning", SASL_TLS },
	{ O, R, false, { "sasl_tls" }, "warning", SASL_TLS },
	{ N, R, true, { "tcp_dialback" }, "warning", SASL_TLS },
	{ N, R, false, {}, "invalid", NO_TLS },
	{ R, O, true, { "sasl_tls", "tls_dialback" }, "valid", nil },
	{ R, O, false, { "sasl_tls" }, "valid", nil },
	{ O, O, true, { "sasl_tls", "tls_dialback", "tcp_dialback" }, "warning", SASL_TLS },
	{ O, O, false, { "sasl_tls" }, "warning", SASL_TLS },
	{ N, O, true, { "tcp_dialback" }, "warning", SASL_TLS },
	{ N, O, false, {}, "invalid", NO_TLS },
	{ R, N, true, { "tls_dialback" }, "valid", nil },
	{ R, N, false, {}, "invalid", NOTHING },
	{ O, N, true, { "tls_dialback", "tcp_dialback" }, "valid", nil },
	{ O, N, false, {}, "invalid", NOTHING },
	{ N, N, true, { "tcp_dialback" }, "valid", TCP_ONLY },
	{ N, N, false, {}, "invalid", NOTHING },
}

describe("partners.classify", function()
	it("has a test row for each of the 18 combinations", function()
		local seen = {}
		for _, row in ipairs(rows) do
			seen[row[1] .. "/" .. row[2] .. "/" .. tostring(row[3])] = true
		end
		local n = 0
		for _ in pairs(seen) do n = n + 1 end
		assert.equal(18, n)
	end)

	for _, row in ipairs(rows) do
		local tls, sasl, dialback, methods, class, message = table.unpack(row, 1, 6)
		it(("classifies tls=%s sasl=%s dialback=%s as %s"):format(tls, sasl, dialback, class), function()
			local got_class, got_methods, got_message = partners.classify(tls, sasl, dialback)
			assert.equal(class, got_class)
			assert.same(methods, got_methods)
			assert.equal(message, got_message)
			assert.equal(#methods == 0, got_class == "invalid")
		end)
	end

	it("returns a fresh methods list on every call", function()
		local _, a = partners.classify(R, O, true)
		local _, b = partners.classify(R, O, true)
		assert.are_not.equal(a, b)
		a[1] = "changed"
		assert.same({ "sasl_tls", "tls_dialback" }, b)
		assert.same({ "sasl_tls", "tls_dialback" }, select(2, partners.classify(R, O, true)))
	end)

	local misuse = {
		{ "an unknown tls value", table.pack("yes", O, true), "bad argument #1 to 'classify' (invalid option 'yes')" },
		{ "an unknown sasl value", table.pack(R, "Required", true), "bad argument #2 to 'classify' (invalid option 'Required')" },
		{ "a missing tls", table.pack(nil, O, true), "bad argument #1 to 'classify' (string expected, got nil)" },
		{ "a table as sasl", table.pack(R, {}, true), "bad argument #2 to 'classify' (string expected, got table)" },
		{ "a string dialback", table.pack(R, O, "true"), "bad argument #3 to 'classify' (boolean expected, got string)" },
		{ "a missing dialback", table.pack(R, O), "bad argument #3 to 'classify' (boolean expected, got no value)" },
	}
	for _, case in ipairs(misuse) do
		it("raises an argument error for " .. case[1], function()
			local args = case[2]
			assert.has_error(function()
				partners.classify(table.unpack(args, 1, args.n))
			end, case[3])
		end)
	end
end)
