-- partners.normalize: IDNA2008 / UTS #46 non-transitional, lower case, no trailing dot.
local partners = require "s2s_partners"

local l63 = ("a"):rep(63)
local l64 = ("b"):rep(64)
-- 4 labels of 63 octets and 3 dots: 255 octets
local name255 = ("%s.%s.%s.%s"):format(l63, l63, l63, l63)
-- 253 octets exactly: 3 × 63 + 61 + 3 dots
local name253 = ("%s.%s.%s.%s"):format(l63, l63, l63, ("c"):rep(61))

-- { input, expected normal form }
local valid = {
	-- U-labels, A-labels and their spellings all meet
	{ "Bücher.Example.", "xn--bcher-kva.example" },
	{ "bücher.example", "xn--bcher-kva.example" },
	{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
	{ "XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example" },
	{ "xn--bcher-kva.example.", "xn--bcher-kva.example" },
	-- non-transitional: ß stays ß
	{ "straße.de", "xn--strae-oqa.de" },
	{ "xn--strae-oqa.de", "xn--strae-oqa.de" },
	-- case
	{ "FABRIKAM.COM", "fabrikam.com" },
	{ "Fabrikam.Com", "fabrikam.com" },
	{ "fabrikam.com", "fabrikam.com" },
	-- one trailing dot, in any of its Unicode spellings
	{ "fabrikam.com.", "fabrikam.com" },
	{ "bücher.example。", "xn--bcher-kva.example" },
	-- UTS #46 mapping: full-width letters, ideographic full stop
	{ "ＦＡＢＲＩＫＡＭ.com", "fabrikam.com" },
	{ "bücher。example", "xn--bcher-kva.example" },
	-- single labels, digits, inner hyphens
	{ "localhost", "localhost" },
	{ "a", "a" },
	{ "a-b.c-d.example", "a-b.c-d.example" },
	{ "123.example", "123.example" },
	{ "ابي.ir", "xn--mgbc6h.ir" },
	-- limits: 63-octet label, 253-octet name (also with its trailing dot)
	{ l63 .. ".com", l63 .. ".com" },
	{ name253, name253 },
	{ name253 .. ".", name253 },
	{ name253:upper(), name253 },
}

-- { description, input, exact error }
local invalid = {
	{ "an empty string", "", "empty domain name" },
	{ "a lone dot", ".", "empty domain name" },
	{ "a lone ideographic full stop", "。", "empty domain name" },
	{ "a leading dot", ".fabrikam.com", "empty label in domain name" },
	{ "two dots in a row", "fabrikam..com", "empty label in domain name" },
	{ "two trailing dots", "fabrikam.com..", "empty label in domain name" },
	{ "an empty label after mapping", "bücher.。", "empty label in domain name" },
	{ "a 64-octet label", l64 .. ".com",
		"label too long (max 63 octets): bbbbbbbbbbbbbbbbbbbb..." },
	{ "a 64-octet label in the middle", "x." .. l64 .. ".com",
		"label too long (max 63 octets): bbbbbbbbbbbbbbbbbbbb..." },
	{ "a U-label whose A-label is over 63 octets", "x." .. ("ü"):rep(60) .. ".de",
		"label too long (max 63 octets): üüüüüüüüüü..." },
	{ "a 255-octet name", name255, "domain name too long (max 253 octets)" },
	{ "a 254-octet name", name253 .. "x", "domain name too long (max 253 octets)" },
	{ "a huge name", ("a."):rep(10000) .. "com", "domain name too long (max 253 octets)" },
	{ "a long non-ASCII name", ("ü."):rep(60) .. ("a"):rep(63) .. "." .. l63,
		"domain name too long (max 253 octets)" },
	{ "an underscore", "_xmpp-server.fabrikam.com",
		'invalid domain name "_xmpp-server.fabrikam.com": disallowed character "_"' },
	{ "a space", "fabrikam .com", 'invalid domain name "fabrikam .com": disallowed character " "' },
	{ "a wildcard", "*.fabrikam.com", 'invalid domain name "*.fabrikam.com": disallowed character "*"' },
	{ "a JID", "user@fabrikam.com", 'invalid domain name "user@fabrikam.com": disallowed character "@"' },
	{ "a resource", "fabrikam.com/res", 'invalid domain name "fabrikam.com/res": disallowed character "/"' },
	{ "a port", "fabrikam.com:5269", 'invalid domain name "fabrikam.com:5269": disallowed character ":"' },
	{ "a quote", 'a"b.com', 'invalid domain name "a\\"b.com": disallowed character "\\""' },
	{ "a NUL byte", "fabrikam.com\0.evil", 'invalid domain name "fabrikam.com\\x00.evil": disallowed character "\\x00"' },
	{ "a newline", "a\nb", 'invalid domain name "a\\x0ab": disallowed character "\\x0a"' },
	{ "a full-width underscore (maps to _)", "a＿b.com", 'invalid domain name "a＿b.com": disallowed character "_"' },
	{ "a parenthesised digit (maps to (1))", "⑴.com", 'invalid domain name "⑴.com": disallowed character "("' },
	{ "a leading hyphen", "-fabrikam.com",
		'invalid domain name "-fabrikam.com": label "-fabrikam" starts or ends with a hyphen' },
	{ "a trailing hyphen", "fabrikam-.com",
		'invalid domain name "fabrikam-.com": label "fabrikam-" starts or ends with a hyphen' },
	{ "a lone hyphen label", "a.-.com", 'invalid domain name "a.-.com": label "-" starts or ends with a hyphen' },
	{ "a hyphen around a U-label", "-bücher.example",
		'invalid domain name "-bücher.example": string start/ends with forbidden hyphen' },
	{ "hyphens in positions 3 and 4", "ab--cd.com",
		'invalid domain name "ab--cd.com": string contains forbidden two hyphens pattern' },
	{ "garbage punycode", "xn--zz", 'invalid domain name "xn--zz": string contains invalid punycode data' },
	{ "garbage punycode in a label", "xn--zz.example",
		'invalid domain name "xn--zz.example": string contains invalid punycode data' },
	{ "an empty A-label", "xn--.example",
		'invalid domain name "xn--.example": label "xn--" starts or ends with a hyphen' },
	{ "an A-label of a disallowed character", "xn--ls8h.la",
		'invalid domain name "xn--ls8h.la": string contains a disallowed character' },
	{ "an A-label that decodes to a non-IDNA label", "xn--a.example",
		'invalid domain name "xn--a.example": domain label has character forbidden in non-transitional mode (TR46)' },
	{ "a disallowed symbol", "💩.la", 'invalid domain name "💩.la": string contains a disallowed character' },
	{ "broken UTF-8", "a\255b.de", 'invalid domain name "a\\xffb.de": string encoding error' },
}

describe("partners.normalize", function()
	for _, case in ipairs(valid) do
		it(("normalises %q to %q"):format(case[1], case[2]), function()
			local got, err = partners.normalize(case[1])
			assert.is_nil(err)
			assert.equal(case[2], got)
		end)
	end

	it("gives one name for every spelling of a U-label", function()
		assert.equal(partners.normalize("xn--bcher-kva.example"), partners.normalize("Bücher.Example."))
	end)

	it("returns exactly the normal form of a normal form", function()
		for _, case in ipairs(valid) do
			assert.equal(case[2], partners.normalize(case[2]))
		end
	end)

	for _, case in ipairs(invalid) do
		it("refuses " .. case[1], function()
			local got, err = partners.normalize(case[2])
			assert.is_nil(got)
			assert.equal(case[3], err)
		end)
	end

	it("quotes at most 100 octets of a refused name", function()
		local name = ("a"):rep(150) .. "_"
		local got, err = partners.normalize(name)
		assert.is_nil(got)
		assert.equal('invalid domain name "' .. ("a"):rep(100) .. '...": disallowed character "_"', err)
	end)

	for _, value in ipairs({ 42, true, {} }) do
		it("raises an argument error for a " .. type(value), function()
			assert.has_error(function()
				partners.normalize(value)
			end, ("bad argument #1 to 'normalize' (string expected, got %s)"):format(type(value)))
		end)
	end

	it("raises an argument error when called without an argument", function()
		assert.has_error(function()
			partners.normalize()
		end, "bad argument #1 to 'normalize' (string expected, got no value)")
	end)
end)
