-- partners.dialback_key / dialback_verify: byte for byte what Prosody 0.12's mod_dialback
-- computes (generate_dialback: hmac_sha256(sha256(secret, true), to .. " " .. from .. " " .. id, true)).
local partners = require "s2s_partners"

-- { secret, to, from, stream id, key computed by Prosody 0.12.3's util.hashes }
local vectors = {
	{ "s", "a", "b", "c", "e1c3396164d899fb24df58f96d2827c4f1c553a39349a7d9e02beb00329dae34" },
	{ "s3cr3t", "b.test", "a.test", "stream-1", "ced523d0dffe7136d34d7f5b3746fb810cd5d98dc7100103d261e27b6472a790" },
	{ "x", "xn--bcher-kva.example", "a.test", "d0c8b3a2-5f1e-4c3a-9b7d-1e2f3a4b5c6d",
		"59eb6366be330f80106af56f7863012a98e0cb18a44f79bc86db80de6df2c32c" },
}

-- Inputs compared live with Prosody's own util.hashes when it is installed.
local live = {
	{ "s3cr3t", "b.test", "a.test", "stream-1" },
	{ "a much longer secret than the sixty-four bytes of one HMAC-SHA256 block, to exercise hashing of the key",
		"fabrikam.com", "contoso.com", "8f14e45f-ceea-467f-a9e4-5b2d7c8e9f01" },
	{ "s", "", "", "" },
	{ "\0binary\255secret", "b.test", "a.test", "id with spaces" },
	{ "é", "xn--bcher-kva.example", "a.test", ("x"):rep(1000) },
}

local function prosody_hashes()
	local path, cpath = package.path, package.cpath
	package.path = "/usr/lib/prosody/?.lua;" .. path
	package.cpath = "/usr/lib/prosody/?.so;" .. cpath
	local ok, hashes = pcall(require, "util.hashes")
	package.path, package.cpath = path, cpath
	return ok and hashes or nil
end

describe("partners.dialback_key", function()
	for _, v in ipairs(vectors) do
		it(("equals Prosody's key for %q -> %q"):format(v[3], v[2]), function()
			assert.equal(v[5], partners.dialback_key(v[1], v[2], v[3], v[4]))
		end)
	end

	local hashes = prosody_hashes()
	for _, v in ipairs(live) do
		local test = hashes and it or pending
		test(("equals Prosody's util.hashes live for stream id of %d bytes"):format(#v[4]), function()
			local secret = hashes.sha256(v[1], true)
			local expected = hashes.hmac_sha256(secret, v[2] .. " " .. v[3] .. " " .. v[4], true)
			assert.equal(expected, partners.dialback_key(v[1], v[2], v[3], v[4]))
		end)
	end

	it("is 64 lower-case hex characters", function()
		assert.matches("^" .. ("[0-9a-f]"):rep(64) .. "$", partners.dialback_key("secret", "b.test", "a.test", "id"))
	end)

	it("depends on every input", function()
		local base = partners.dialback_key("secret", "b.test", "a.test", "id")
		assert.not_equal(base, partners.dialback_key("secret2", "b.test", "a.test", "id"))
		assert.not_equal(base, partners.dialback_key("secret", "c.test", "a.test", "id"))
		assert.not_equal(base, partners.dialback_key("secret", "b.test", "c.test", "id"))
		assert.not_equal(base, partners.dialback_key("secret", "b.test", "a.test", "id2"))
		assert.not_equal(base, partners.dialback_key("secret", "a.test", "b.test", "id"))
	end)

	local misuse = {
		{ "an empty secret", { "", "b.test", "a.test", "id" } },
		{ "a missing secret", { nil, "b.test", "a.test", "id" } },
		{ "a table as domain", { "s", {}, "a.test", "id" } },
		{ "a missing stream id", { "s", "b.test", "a.test" } },
	}
	for _, case in ipairs(misuse) do
		it("raises on " .. case[1], function()
			assert.has_error(function() partners.dialback_key(table.unpack(case[2], 1, 4)) end)
		end)
	end
end)

describe("partners.dialback_verify", function()
	local key = vectors[2][5]

	local cases = {
		{ "the right key", { "s3cr3t", "b.test", "a.test", "stream-1", key }, true },
		{ "another secret", { "s3cr3T", "b.test", "a.test", "stream-1", key }, false },
		{ "another receiving domain", { "s3cr3t", "c.test", "a.test", "stream-1", key }, false },
		{ "another originating domain", { "s3cr3t", "b.test", "c.test", "stream-1", key }, false },
		{ "swapped domains", { "s3cr3t", "a.test", "b.test", "stream-1", key }, false },
		{ "another stream id", { "s3cr3t", "b.test", "a.test", "stream-2", key }, false },
		{ "the key in upper case", { "s3cr3t", "b.test", "a.test", "stream-1", key:upper() }, false },
		{ "a truncated key", { "s3cr3t", "b.test", "a.test", "stream-1", key:sub(1, 63) }, false },
		{ "a key with a trailing character", { "s3cr3t", "b.test", "a.test", "stream-1", key .. "0" }, false },
		{ "an empty key", { "s3cr3t", "b.test", "a.test", "stream-1", "" }, false },
		{ "a key differing in its first character",
			{ "s3cr3t", "b.test", "a.test", "stream-1", (key:sub(1, 1) == "0" and "1" or "0") .. key:sub(2) }, false },
	}
	for _, case in ipairs(cases) do
		it(("is %s for %s"):format(tostring(case[3]), case[1]), function()
			assert.equal(case[3], partners.dialback_verify(table.unpack(case[2], 1, 5)))
		end)
	end

	it("accepts every key it generates", function()
		for _, v in ipairs(vectors) do
			assert.is_true(partners.dialback_verify(v[1], v[2], v[3], v[4], partners.dialback_key(v[1], v[2], v[3], v[4])))
		end
	end)

	it("raises on a missing key or an empty secret", function()
		assert.has_error(function() partners.dialback_verify("s", "b.test", "a.test", "id") end)
		assert.has_error(function() partners.dialback_verify("", "b.test", "a.test", "id", key) end)
	end)
end)
