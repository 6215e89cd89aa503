-- lua/statusdata.lib.lua, the pure part of the partner status (README "Status"), run as
-- plain Lua: rings, the cleaning of peer-controlled strings and the report's shape.
local data = dofile("lua/statusdata.lib.lua")

local b = { domain = "b.test", default = false }
local c = { domain = "c.test", default = false }
local default = { default = true }

local function refused(remote, time)
	return data.attempt{ time = time or 1, direction = "incoming", remote = remote, outcome = "refused",
		reason = "not_partner", text = remote .. " is not a federation partner of a.test" }
end

describe("statusdata.clean", function()
	it("replaces control characters and keeps nil", function()
		assert.equal("a b c d", data.clean("a\nb\0c\127d", 10))
		assert.is_nil(data.clean(nil, 10))
		assert.equal("42", data.clean(42, 10))
	end)

	it("cuts at the limit in octets without splitting a UTF-8 sequence", function()
		assert.equal(("x"):rep(255), data.clean(("x"):rep(1000), 255))
		assert.equal("ab", data.clean("abü", 3)) -- ü is two octets: a cut after its first one backs off
		assert.equal("abü", data.clean("abüx", 4))
		for n = 0, 12 do
			assert.truthy(utf8.len(data.clean(("€ü"):rep(5), n)), n)
		end
	end)
end)

describe("statusdata.peer_error", function()
	it("reads mod_s2s's stream error reasons as condition: text", function()
		assert.equal("policy-violation: a.test is not a federation partner of c.test",
			data.peer_error("policy-violation (a.test is not a federation partner of c.test)"))
		assert.equal("system-shutdown", data.peer_error("system-shutdown"))
		assert.equal("reset: (nested) text", data.peer_error("reset ((nested) text)"))
	end)

	it("reads error objects, keeps other strings and cleans everything", function()
		assert.equal("not-authorized: bad cert", data.peer_error({ condition = "not-authorized", text = "bad cert" }))
		assert.equal("not-authorized", data.peer_error({ condition = "not-authorized" }))
		assert.equal("TLS negotiation failed", data.peer_error("TLS negotiation failed"))
		assert.equal("reset: a b", data.peer_error("reset (a\nb)"))
		assert.equal(data.TEXT_MAX, #data.peer_error("reset (" .. ("y"):rep(1000) .. ")"))
		assert.is_nil(data.peer_error(nil))
		assert.is_nil(data.peer_error(false))
		assert.is_nil(data.peer_error({}))
	end)
end)

describe("statusdata.attempt", function()
	it("cleans and cuts what a peer controls", function()
		local a = data.attempt{ time = 7, direction = "incoming", remote = ("r"):rep(300) .. "\n", outcome = "failed",
			reason = "x", text = ("t"):rep(300), peer_error = "p\r" }
		assert.equal(7, a.time)
		assert.equal(data.DOMAIN_MAX, #a.remote)
		assert.equal(data.TEXT_MAX, #a.text)
		assert.equal("p ", a.peer_error)
		assert.equal("failed", a.outcome)
		assert.equal("unknown", data.attempt{ outcome = "refused" }.direction)
	end)
end)

describe("statusdata ring and store", function()
	it("keeps the newest items, newest first, and counts them all", function()
		local ring = data.ring(3)
		assert.same({}, ring:list())
		for i = 1, 7 do ring:push({ n = i }) end
		assert.same({ { n = 7 }, { n = 6 }, { n = 5 } }, ring:list())
		assert.equal(7, ring.total)
		ring:list()[1].n = 0 -- copies
		assert.equal(7, ring:list()[1].n)
	end)

	it("keeps at most PER_PARTNER attempts per partner and one ring for the default policy", function()
		local store = data.store()
		for i = 1, 9 do store:add(b, refused("b.test", i)) end
		for i = 1, 9 do store:add(default, refused("d" .. i .. ".test", i)) end
		local attempts = store:attempts(b)
		assert.equal(data.PER_PARTNER, #attempts)
		assert.equal(9, attempts[1].time)
		assert.equal(data.PER_PARTNER, #store:attempts(default))
		assert.equal("d9.test", store:attempts(default)[1].remote)
		assert.same({}, store:attempts(c))
		assert.same({ ["b.test"] = true }, (function ()
			local keys = {}
			for k in pairs(store.partners) do keys[k] = true end
			return keys
		end)())
	end)

	it("keeps at most UNLISTED refusals of unlisted domains, counting them all", function()
		local store = data.store()
		for i = 1, 70 do store:add(nil, refused("flood" .. i .. ".test", i)) end
		local list = store.unlisted:list()
		assert.equal(data.UNLISTED, #list)
		assert.equal("flood70.test", list[1].remote)
		assert.equal("flood21.test", list[data.UNLISTED].remote)
		assert.equal(70, store.unlisted.total)
	end)

	it("forgets partners a policy change removed, and the default policy's attempts without one", function()
		local store = data.store()
		store:add(b, refused("b.test"))
		store:add(c, refused("c.test"))
		store:add(default, refused("x.test"))
		local function is_partner(domain) return domain == "c.test" end
		store:retain(is_partner, default)
		assert.same({}, store:attempts(b))
		assert.equal(1, #store:attempts(c))
		assert.equal(1, #store:attempts(default))
		store:retain(is_partner, nil)
		assert.same({}, store:attempts(default))
	end)
end)

describe("statusdata.report", function()
	local store, streams
	before_each(function()
		store = data.store()
		store:add(b, data.attempt{ time = 5, direction = "outgoing", remote = "b.test", outcome = "accepted", method = "sasl_tls" })
		store:add(default, refused("x.test"))
		store:add(nil, refused("evil.test", 1))
		store:add(nil, refused("other.test", 2))
		streams = {
			{ partner = b, direction = "outgoing", remote = "b.test", method = "sasl_tls", tls = "TLSv1.3", cert_chain = "valid",
				cert_identity = "valid", since = 20 },
			{ partner = b, direction = "incoming", remote = "sub.b.test", method = "tls_dialback", since = 10 },
			{ partner = nil, direction = "incoming", remote = "gone.test", method = "tcp_dialback", since = 1 },
		}
	end)

	it("lists every partner in order, the default policy, and the unlisted refusals", function()
		local report = data.report(store, { b, c }, default, streams)
		assert.equal(2, #report.partners)
		local eb, ec = report.partners[1], report.partners[2]
		assert.equal("b.test", eb.domain)
		assert.is_false(eb.default)
		assert.same({
			{ direction = "incoming", remote = "sub.b.test", method = "tls_dialback", since = 10 },
			{ direction = "outgoing", remote = "b.test", method = "sasl_tls", tls = "TLSv1.3", cert_chain = "valid",
				cert_identity = "valid", since = 20 },
		}, eb.streams)
		assert.same({ { time = 5, direction = "outgoing", remote = "b.test", outcome = "accepted", method = "sasl_tls" } },
			eb.attempts)
		assert.same({ domain = "c.test", default = false, streams = {}, attempts = {} }, ec)
		assert.is_nil(report.default.domain)
		assert.is_true(report.default.default)
		assert.equal("x.test", report.default.attempts[1].remote)
		assert.same({ "other.test", "evil.test" }, { report.unlisted[1].remote, report.unlisted[2].remote })
		assert.equal(2, report.unlisted_total)
		assert.is_nil(report.config_error)
	end)

	it("has no default entry without a default policy", function()
		assert.is_nil(data.report(store, { b }, nil, streams).default)
	end)

	it("shows only the owner of a queried domain: a partner, the default policy, or nothing", function()
		local report = data.report(store, { b, c }, default, streams, { owner = b, domain = "sub.b.test" })
		assert.equal(1, #report.partners)
		assert.equal("b.test", report.partners[1].domain)
		assert.is_nil(report.default)
		assert.same({}, report.unlisted)
		assert.equal(2, report.unlisted_total)

		report = data.report(store, { b, c }, default, streams, { owner = default, domain = "x.test" })
		assert.equal(1, #report.partners)
		assert.is_true(report.partners[1].default)

		report = data.report(store, { b, c }, nil, streams, { owner = false, domain = "evil.test" })
		assert.same({}, report.partners)
		assert.equal(1, #report.unlisted)
		assert.equal("evil.test", report.unlisted[1].remote)

		-- Not a domain at all: nothing, not even the anonymous streams' refusals (remote nil).
		store:add(nil, data.attempt{ time = 3, direction = "incoming", outcome = "refused", reason = "anonymous" })
		report = data.report(store, { b, c }, nil, streams, { owner = false, domain = nil })
		assert.same({}, report.partners)
		assert.same({}, report.unlisted)
		assert.equal(3, report.unlisted_total)
	end)

	it("is plain data: no metatables, nothing shared with the store", function()
		local report = data.report(store, { b }, default, streams)
		report.partners[1].attempts[1].remote = "changed"
		assert.equal("b.test", data.report(store, { b }, default, streams).partners[1].attempts[1].remote)
		local function plain(v)
			if type(v) ~= "table" then
				assert.truthy(({ string = true, number = true, boolean = true })[type(v)], type(v))
				return
			end
			assert.is_nil(getmetatable(v))
			for k, x in pairs(v) do plain(k) plain(x) end
		end
		plain(report)
	end)
end)
