-- Interoperability with ejabberd (Debian 23.01) as a partner's server: a.test runs Prosody
-- with mod_s2s_partners, the partner domains are virtual hosts of one ejabberd per describe
-- (spec/harness/ejabberd.lua). For each method ejabberd can use, a partner rule that allows it
-- federates both ways (message, presence subscription) and a rule that forbids it is refused;
-- then the partner-type rules of README "Partner types" with ejabberd users.
--
-- Each ejabberd is configured so that the method under test is the only one it can use: a
-- rule that forbids it leaves no method at all, and the refusal is visible.
--
-- Writes build/results/interop.md (peer × method × direction → result); scripts/
-- update-readme-interop.sh copies it into README.md.
-- Run: lua5.4 /usr/bin/busted --run=integration spec/integration/ejabberd_spec.lua
local harness = require "harness"
local ejabberd = require "harness.ejabberd"

local util = harness.util

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)
local QUIET = 1    -- window in which nothing may arrive (negative checks)

local plugin_present, plugin_dir = harness.plugin_available()
local skip_reason = not plugin_present
	and ("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
	or not ejabberd.available() and "ejabberd not installed (scripts/install-deps.sh installs it)"

------------------------------------------------------------------------------------------
-- The interop table: every row is declared here, in display order; tests fill in results.

local PEER = "ejabberd " .. ejabberd.version()
local METHODS = { "SASL EXTERNAL over TLS", "dialback over TLS", "dialback without TLS" }
local DIRS = { out = "Prosody → ejabberd", ["in"] = "ejabberd → Prosody", sub = "both (presence subscription)" }
local rows, row_index = {}, {}
for _, m in ipairs(METHODS) do
	for _, rule in ipairs({ "allowed", "forbidden" }) do
		for _, d in ipairs(rule == "allowed" and { "out", "in", "sub" } or { "out", "in" }) do
			local key = m .. "|" .. rule .. "|" .. d
			rows[#rows + 1] = { key = key, method = m, rule = rule, dir = DIRS[d], result = "not run" }
			row_index[key] = rows[#rows]
		end
	end
end
-- README "Partner types" with ejabberd users: partner type, what the ejabberd user does → result.
local type_rows, type_index = {}, {}
for _, t in ipairs({
	{ "pu_message", "public_unverified", "message to a local user who has not added them" },
	{ "pu_subscribe", "public_unverified", "subscription request, not in the local user's roster" },
	{ "pu_known", "public_unverified", "message / subscription request once the local user added them" },
	{ "fed_subscribe", "federated", "subscription request" },
	{ "pv_subscribe", "public_verified", "subscription request" },
	{ "status", "federated / public_verified / public_unverified", "status note of a local user's presence" },
}) do
	type_rows[#type_rows + 1] = { key = t[1], ptype = t[2], what = t[3], result = "not run" }
	type_index[t[1]] = type_rows[#type_rows]
end

local RESULTS_FILE = "build/results/interop.md"
-- One fragment per Prosody version on a.test (`make integration` runs Prosody 0.12 and 13):
-- lines "key<TAB>result". interop.md shows every version's fragment.
local FRAGMENT_DIR = "build/results/interop.d"
local prosody_label = "Prosody" -- set from a.test at start

local function write_atomic(path, text)
	-- Whole file at once (rename), in case another run of this spec writes it too.
	local tmp = ("%s.%d.tmp"):format(path, harness.pid or 0)
	util.write_file(tmp, text)
	assert(os.rename(tmp, path))
end

local function read_fragments()
	local lfs = require "lfs"
	local versions, by_version = {}, {}
	for f in lfs.dir(FRAGMENT_DIR) do
		if f:match("%.tsv$") then
			local text = util.read_file(FRAGMENT_DIR .. "/" .. f) or ""
			local label = text:match("^# ([^\n]+)")
			if label then
				local results = {}
				for key, result in text:gmatch("\n([^\t\n]+)\t([^\n]*)") do results[key] = result end
				versions[#versions + 1] = label
				by_version[label] = results
			end
		end
	end
	table.sort(versions, function(x, y) -- "Prosody 0.12.3" before "Prosody 13.0.1"
		local function num(l) return tonumber(l:match("(%d+%.?%d*)")) or 0 end
		return num(x) < num(y)
	end)
	return versions, by_version
end

local function write_results()
	util.mkdir(FRAGMENT_DIR)
	local frag = { "# " .. prosody_label }
	for _, r in ipairs(rows) do frag[#frag + 1] = r.key .. "\t" .. r.result:gsub("[\t\n]", " ") end
	for _, r in ipairs(type_rows) do frag[#frag + 1] = r.key .. "\t" .. r.result:gsub("[\t\n]", " ") end
	write_atomic(("%s/%s.tsv"):format(FRAGMENT_DIR, prosody_label:gsub("[^%w.]+", "-")), table.concat(frag, "\n") .. "\n")

	local versions, by_version = read_fragments()
	-- One result per row when every version agrees, else one per version.
	local function result_of(key)
		local first, same = nil, true
		for _, v in ipairs(versions) do
			local res = by_version[v][key] or "not run"
			if first == nil then first = res elseif res ~= first then same = false end
		end
		if same then return first or "not run" end
		local parts = {}
		for _, v in ipairs(versions) do parts[#parts + 1] = v .. ": " .. (by_version[v][key] or "not run") end
		return table.concat(parts, "; ")
	end
	local function cell(text) return (text:gsub("|", "\\|"):gsub("\n", " ")) end
	local local_side = table.concat(versions, ", ")
	local out = {
		("Local server: %s with mod_s2s_partners; peer: %s (Debian 12)."):format(local_side, PEER),
		"",
		"| method | partner rule | direction | result |",
		"|---|---|---|---|",
	}
	for _, r in ipairs(rows) do
		out[#out + 1] = ("| %s | %s | %s | %s |"):format(r.method, r.rule, r.dir, cell(result_of(r.key)))
	end
	out[#out + 1] = ""
	out[#out + 1] = "| partner type | ejabberd user's stanza | result |"
	out[#out + 1] = "|---|---|---|"
	for _, r in ipairs(type_rows) do
		out[#out + 1] = ("| %s | %s | %s |"):format(r.ptype, r.what, cell(result_of(r.key)))
	end
	write_atomic(RESULTS_FILE, table.concat(out, "\n") .. "\n")
end

-- Written once, when the whole file has run (complete even if another run writes it too).
teardown(function()
	if not skip_reason then write_results() end
end)

-- Run `fn`; record its outcome (`result` on success) in the table row, and re-raise failures.
local function record(r, fn)
	local ok, res = pcall(fn)
	r.result = ok and res or ("FAILED: " .. tostring(res):match("[^\n]*"))
	if not ok then error(res, 0) end
end

local function row(method, rule, dir, fn)
	return record(assert(row_index[method .. "|" .. rule .. "|" .. dir], "no such row"), fn)
end

local function type_row(key, fn)
	return record(assert(type_index[key], "no such row"), fn)
end

------------------------------------------------------------------------------------------
-- Helpers

-- The plugin's own statement of how a stream with `domain` authenticated.
local function prosody_method(a, domain, dir, since)
	local line = a:wait_log(("Partner %s %%b() authenticated %s by ([%%w ]+)"):format(domain:gsub("%p", "%%%0"),
		dir == "out" and "outgoing" or "incoming"), { since = since, timeout = T })
	return line and line:match(" by ([%w ]+)$"), line
end

-- Send a message and check it arrives.
local function deliver(sender, receiver, body)
	assert(sender:send_message(receiver.jid, body))
	assert(receiver:expect_message{ from = sender.jid, body = body, timeout = T })
end

-- Send a message that must be refused: the sender gets an error, the receiver nothing.
-- Returns the error record.
local function refused(sender, receiver, body)
	assert(sender:send_message(receiver.jid, body))
	local e = assert(sender:expect_error{ from = receiver.jid, kind = "message", timeout = T })
	assert(receiver:expect_no_message{ from = sender.jid, within = QUIET })
	return e
end

-- Presence subscriptions both ways between a local user and an ejabberd user of a federated
-- partner: the local user asks and the ejabberd user approves; the ejabberd user asks and the
-- module approves on the local user's behalf (README "Partner types"). Both rosters end with "both".
local function subscriptions_cross(alice, peer)
	assert(alice:subscribe(peer.jid))
	assert(peer:expect_presence{ from = alice.jid, type = "subscribe", timeout = T })
	assert(peer:subscribed(alice.jid))
	assert(alice:expect_presence{ from = peer.jid, type = "subscribed", timeout = T })
	assert(alice:expect_presence{ from = peer.jid, type = "available", timeout = T })
	assert(peer:subscribe(alice.jid))
	assert(peer:expect_presence{ from = alice.jid, type = "subscribed", timeout = T })
	assert(peer:expect_presence{ from = alice.jid, type = "available", timeout = T })
	assert(alice:expect_no_presence(peer.jid, "subscribe", 0.3))
	assert.equal("both", assert(alice:roster())[peer.jid].subscription)
	assert.equal("both", assert(peer:roster())[alice.jid].subscription)
	return "subscription both ways (ejabberd user's request auto-approved: federated)"
end

-- Neither side may have accepted a stream for `domain` (the whole run so far).
local function assert_not_authenticated(a, e, domain)
	local line = a:log_contains(("Partner %s %%b() authenticated"):format(domain:gsub("%p", "%%%0")))
	assert.is_nil(line, "Prosody accepted a stream: " .. tostring(line))
	for _, r in ipairs(e:s2s_auths()) do
		assert.is_false(r.from == domain or r.to == domain, "ejabberd accepted a stream: " .. r.line)
	end
end

local function describe_error(e)
	local err = e.error or {}
	return ("%s%s"):format(err.condition or "?", err.text and (" (" .. err.text .. ")") or "")
end

-- Start a.test (Prosody + plugin, partner list `partners`) and one ejabberd (opts);
-- log in alice@a.test and every ejabberd user. Returns env, a, e, accounts by JID.
local function start(partners, eopts, a_users)
	local env = harness.env()
	local ok, a, e, by_jid = pcall(function()
		local a = env:server{ host = "a.test", users = a_users or { alice = "alice-pw" }, plugin = true,
			vhost_options = { s2s_partners = partners } }
		local e = ejabberd.new(env, eopts)
		env:start()
		if a.prosody then prosody_label = a:prosody().label end
		local logins = {}
		for u in pairs(a.users) do logins[#logins + 1] = { jid = u .. "@a.test", server = a } end
		for u in pairs(e.users) do logins[#logins + 1] = { jid = u:find("@") and u or (u .. "@" .. e.host), server = e } end
		table.sort(logins, function(x, y) return x.jid < y.jid end)
		local accounts = assert(env:client():login_many(logins))
		local by_jid = {}
		for i, l in ipairs(logins) do by_jid[l.jid] = accounts[i] end
		return a, e, by_jid
	end)
	if not ok then
		env:dump_logs(30)
		env:cleanup() -- stops whatever did start, before the failure is reported
		error(a, 0)
	end
	return env, a, e, by_jid
end

local function stop(env)
	if env then env:cleanup() end
end

------------------------------------------------------------------------------------------

describe("ejabberd peer, SASL EXTERNAL over TLS #integration #ejabberd", function()
	if skip_reason then pending(skip_reason) return end
	local M = "SASL EXTERNAL over TLS"
	local env, a, e, alice, eve, fred

	setup(function()
		-- ejabberd: STARTTLS required, trusts the test CA, no dialback: EXTERNAL or nothing.
		local acc
		env, a, e, acc = start({
			{ domain = "ext-ok.test", type = "federated", tls = "required", sasl = "required", dialback = false },
			-- forbids EXTERNAL: TLS dialback only, which this ejabberd cannot do
			{ domain = "ext-no.test", type = "federated", tls = "required", sasl = "not_supported", dialback = true },
		}, {
			hosts = { "ext-ok.test", "ext-no.test" }, starttls = "required", dialback = false, cert = "trusted",
			users = { eve = "eve-pw", ["fred@ext-no.test"] = "fred-pw" },
		})
		alice, eve, fred = acc["alice@a.test"], acc["eve@ext-ok.test"], acc["fred@ext-no.test"]
	end)
	teardown(function() stop(env) end)

	it("allowed: Prosody → ejabberd delivers, EXTERNAL in both logs", function()
		row(M, "allowed", "out", function()
			local mark, emark = a:log_mark(), e:log_mark()
			deliver(alice, eve, "external out")
			assert.equal(M, (prosody_method(a, "ext-ok.test", "out", mark)))
			local rec = assert(e:wait_s2s_auth({ dir = "in", from = "a.test", to = "ext-ok.test" }, { since = emark }))
			assert.equal("EXTERNAL", rec.method, rec.line)
			assert.is_true(rec.tls, rec.line)
			return "delivered; EXTERNAL over TLS (both logs)"
		end)
	end)

	it("allowed: ejabberd → Prosody delivers, EXTERNAL in both logs", function()
		row(M, "allowed", "in", function()
			local mark, emark = a:log_mark(), e:log_mark()
			deliver(eve, alice, "external in")
			assert.equal(M, (prosody_method(a, "ext-ok.test", "in", mark)))
			local rec = assert(e:wait_s2s_auth({ dir = "out", from = "ext-ok.test", to = "a.test" }, { since = emark }))
			assert.equal("EXTERNAL", rec.method, rec.line)
			assert.is_true(rec.tls, rec.line)
			return "delivered; EXTERNAL over TLS (both logs)"
		end)
	end)

	it("allowed: presence subscriptions cross both ways (federated: auto-approved)", function()
		row(M, "allowed", "sub", function() return subscriptions_cross(alice, eve) end)
	end)

	it("forbidden: Prosody → ejabberd is refused, nothing delivered", function()
		row(M, "forbidden", "out", function()
			local err = refused(alice, fred, "external forbidden out")
			assert_not_authenticated(a, e, "ext-no.test")
			-- Prosody hides EXTERNAL; this ejabberd has no dialback (and does not advertise it), yet
			-- mod_dialback tries it anyway and ejabberd answers not-authorized. The plugin should
			-- refuse first with policy-violation (see README, Interoperability); accept both.
			local c, text = err.error.condition, err.error.text or ""
			assert.is_true(c == "policy-violation" or (c == "remote-server-timeout" and text:find("not-authorized", 1, true) ~= nil),
				err.xml)
			return (c == "policy-violation" and "refused by Prosody: " or "refused by ejabberd (no dialback there): ")
				.. describe_error(err)
		end)
	end)

	it("forbidden: ejabberd → Prosody is refused, nothing delivered", function()
		row(M, "forbidden", "in", function()
			local err = refused(fred, alice, "external forbidden in")
			assert_not_authenticated(a, e, "ext-no.test")
			-- Prosody offers no SASL (only dialback, which this ejabberd lacks): ejabberd gives up.
			assert.equal("remote-server-timeout", err.error.condition, err.xml)
			assert.matches("no SASL mechanisms", err.error.text, 1, true)
			return "refused by ejabberd (Prosody offers it no usable method): " .. describe_error(err)
		end)
	end)
end)

describe("ejabberd peer, dialback over TLS #integration #ejabberd", function()
	if skip_reason then pending(skip_reason) return end
	local M = "dialback over TLS"
	local env, a, e, alice, dora, gus

	setup(function()
		-- ejabberd: STARTTLS required, dialback on, a certificate from a CA Prosody does not
		-- trust, and it trusts only that CA (not a.test's): neither side can verify the other,
		-- so dialback over TLS is the only method left.
		local acc
		env, a, e, acc = start({
			{ domain = "tdb-ok.test", type = "federated", tls = "required", sasl = "not_supported", dialback = true },
			-- forbids dialback: EXTERNAL only
			{ domain = "tdb-no.test", type = "federated", tls = "required", sasl = "required", dialback = false },
		}, {
			hosts = { "tdb-ok.test", "tdb-no.test" }, starttls = "required", dialback = true, cert = "other_ca",
			users = { dora = "dora-pw", ["gus@tdb-no.test"] = "gus-pw" },
		})
		alice, dora, gus = acc["alice@a.test"], acc["dora@tdb-ok.test"], acc["gus@tdb-no.test"]
	end)
	teardown(function() stop(env) end)

	it("allowed: Prosody → ejabberd delivers, dialback over TLS in both logs", function()
		row(M, "allowed", "out", function()
			local mark, emark = a:log_mark(), e:log_mark()
			deliver(alice, dora, "tls dialback out")
			assert.equal(M, (prosody_method(a, "tdb-ok.test", "out", mark)))
			local rec = assert(e:wait_s2s_auth({ dir = "in", from = "a.test", to = "tdb-ok.test" }, { since = emark }))
			assert.equal("dialback", rec.method, rec.line)
			assert.is_true(rec.tls, rec.line)
			return "delivered; dialback over TLS (both logs)"
		end)
	end)

	it("allowed: ejabberd → Prosody delivers, dialback over TLS in both logs", function()
		row(M, "allowed", "in", function()
			local mark, emark = a:log_mark(), e:log_mark()
			deliver(dora, alice, "tls dialback in")
			assert.equal(M, (prosody_method(a, "tdb-ok.test", "in", mark)))
			local rec = assert(e:wait_s2s_auth({ dir = "out", from = "tdb-ok.test", to = "a.test" }, { since = emark }))
			assert.equal("dialback", rec.method, rec.line)
			assert.is_true(rec.tls, rec.line)
			return "delivered; dialback over TLS (both logs)"
		end)
	end)

	it("allowed: presence subscriptions cross both ways", function()
		row(M, "allowed", "sub", function() return subscriptions_cross(alice, dora) end)
	end)

	it("forbidden: Prosody → ejabberd is refused, nothing delivered", function()
		row(M, "forbidden", "out", function()
			local err = refused(alice, gus, "tls dialback forbidden out")
			assert_not_authenticated(a, e, "tdb-no.test")
			-- ejabberd offers EXTERNAL though it cannot verify a.test; it fails, and the plugin
			-- refuses the dialback fallback.
			assert.equal("policy-violation", err.error.condition, err.xml)
			assert.matches("dialback is not allowed with tdb-no.test", err.error.text, 1, true)
			return "refused by Prosody: " .. describe_error(err)
		end)
	end)

	it("forbidden: ejabberd → Prosody is refused, nothing delivered", function()
		row(M, "forbidden", "in", function()
			local err = refused(gus, alice, "tls dialback forbidden in")
			assert_not_authenticated(a, e, "tdb-no.test")
			-- The plugin closes the stream with policy-violation; ejabberd bounces every stanza with
			-- remote-server-timeout, with the stream error in the text when it read it before the
			-- connection closed ("Stream closed by peer: … (policy-violation)").
			assert(a:wait_log("Refused incoming s2s stream from tdb-no.test", { plain = true, timeout = T }))
			assert.equal("remote-server-timeout", err.error.condition, err.xml)
			return "refused by Prosody (policy-violation stream error), ejabberd bounces: " .. describe_error(err)
		end)
	end)
end)

describe("ejabberd peer, dialback without TLS #integration #ejabberd", function()
	if skip_reason then pending(skip_reason) return end
	local M = "dialback without TLS"
	local env, a, e, alice, tom, uma

	setup(function()
		-- ejabberd: s2s_use_starttls: false (never offers nor starts TLS on s2s), dialback on.
		local acc
		env, a, e, acc = start({
			{ domain = "tcp-ok.test", type = "federated", tls = "not_supported", sasl = "not_supported", dialback = true },
			-- forbids dialback without TLS: TLS required (EXTERNAL or dialback over TLS)
			{ domain = "tcp-no.test", type = "federated", tls = "required", sasl = "optional", dialback = true },
		}, {
			hosts = { "tcp-ok.test", "tcp-no.test" }, starttls = false, dialback = true, cert = "trusted",
			users = { tom = "tom-pw", ["uma@tcp-no.test"] = "uma-pw" },
		})
		alice, tom, uma = acc["alice@a.test"], acc["tom@tcp-ok.test"], acc["uma@tcp-no.test"]
	end)
	teardown(function() stop(env) end)

	it("allowed: Prosody → ejabberd delivers, dialback without TLS in both logs", function()
		row(M, "allowed", "out", function()
			local mark, emark = a:log_mark(), e:log_mark()
			deliver(alice, tom, "tcp dialback out")
			assert.equal(M, (prosody_method(a, "tcp-ok.test", "out", mark)))
			local rec = assert(e:wait_s2s_auth({ dir = "in", from = "a.test", to = "tcp-ok.test" }, { since = emark }))
			assert.equal("dialback", rec.method, rec.line)
			assert.is_false(rec.tls, rec.line)
			return "delivered; dialback without TLS (both logs)"
		end)
	end)

	it("allowed: ejabberd → Prosody delivers, dialback without TLS in both logs", function()
		row(M, "allowed", "in", function()
			local mark, emark = a:log_mark(), e:log_mark()
			deliver(tom, alice, "tcp dialback in")
			assert.equal(M, (prosody_method(a, "tcp-ok.test", "in", mark)))
			local rec = assert(e:wait_s2s_auth({ dir = "out", from = "tcp-ok.test", to = "a.test" }, { since = emark }))
			assert.equal("dialback", rec.method, rec.line)
			assert.is_false(rec.tls, rec.line)
			return "delivered; dialback without TLS (both logs)"
		end)
	end)

	it("allowed: presence subscriptions cross both ways", function()
		row(M, "allowed", "sub", function() return subscriptions_cross(alice, tom) end)
	end)

	it("forbidden: Prosody → ejabberd is refused, nothing delivered", function()
		row(M, "forbidden", "out", function()
			local err = refused(alice, uma, "tcp dialback forbidden out")
			assert_not_authenticated(a, e, "tcp-no.test")
			assert.equal("policy-violation", err.error.condition, err.xml)
			assert.matches("tcp-no.test requires TLS but does not offer it", err.error.text, 1, true)
			return "refused by Prosody: " .. describe_error(err)
		end)
	end)

	it("forbidden: ejabberd → Prosody is refused, nothing delivered", function()
		row(M, "forbidden", "in", function()
			local err = refused(uma, alice, "tcp dialback forbidden in")
			assert_not_authenticated(a, e, "tcp-no.test")
			-- Prosody offers only <starttls><required/>; this ejabberd never starts TLS and gives up.
			assert.equal("remote-server-timeout", err.error.condition, err.xml)
			assert.matches("STARTTLS is disabled", err.error.text, 1, true)
			return "refused by ejabberd (Prosody requires STARTTLS): " .. describe_error(err)
		end)
	end)
end)

describe("partner types (README 'Partner types') with ejabberd users #integration #ejabberd", function()
	if skip_reason then pending(skip_reason) return end
	-- The tests build on each other (subscriptions made earlier are used by the status test).
	local env, alice, fay, pat, uli

	setup(function()
		local acc, _
		env, _, _, acc = start({
			{ domain = "fed.test", type = "federated" },
			{ domain = "pv.test", type = "public_verified" },
			{ domain = "pu.test", type = "public_unverified" },
		}, {
			hosts = { "fed.test", "pv.test", "pu.test" }, starttls = "required", dialback = true, cert = "trusted",
			users = { fay = "fay-pw", ["pat@pv.test"] = "pat-pw", ["uli@pu.test"] = "uli-pw" },
		})
		alice, fay, pat, uli = acc["alice@a.test"], acc["fay@fed.test"], acc["pat@pv.test"], acc["uli@pu.test"]
	end)
	teardown(function() stop(env) end)

	it("public_unverified: a message to a user who has not added the sender is dropped silently", function()
		type_row("pu_message", function()
			assert(uli:send_message("alice@a.test", "not in your roster"))
			assert(alice:expect_no_message{ from = "uli@pu.test", within = QUIET })
			assert(uli:expect_none{ kind = "message", type = "error", within = 0.2 })
			return "dropped silently (no error to the sender)"
		end)
	end)

	it("public_unverified: a subscription request from a contact not in the roster is dropped", function()
		type_row("pu_subscribe", function()
			assert(uli:subscribe("alice@a.test"))
			assert(alice:expect_no_presence("uli@pu.test", "subscribe", QUIET))
			assert(uli:expect_none{ kind = "presence", type = "subscribed", within = 0.2 })
			assert.is_nil(assert(alice:roster())["uli@pu.test"])
			return "dropped silently"
		end)
	end)

	it("public_unverified: once the user added the contact, messages pass and subscriptions ask the user", function()
		type_row("pu_known", function()
			assert(alice:roster_add("uli@pu.test", "Uli"))
			assert(uli:send_message("alice@a.test", "now you know me"))
			assert(alice:expect_message{ from = "uli@pu.test", body = "now you know me", timeout = T })
			assert(uli:subscribe("alice@a.test"))
			assert(alice:expect_presence{ from = "uli@pu.test", type = "subscribe", timeout = T })
			assert(uli:expect_none{ kind = "presence", type = "subscribed", within = 0.3 }) -- not auto-approved
			assert(alice:subscribed("uli@pu.test"))
			assert(uli:expect_presence{ from = "alice@a.test", type = "subscribed", timeout = T })
			assert(uli:expect_presence{ from = "alice@a.test", type = "available", timeout = T })
			return "message delivered; request reaches the user (not auto-approved)"
		end)
	end)

	for _, case in ipairs({ { "federated", "fay@fed.test" }, { "public_verified", "pat@pv.test" } }) do
		local ptype, jid = case[1], case[2]
		it(ptype .. ": a subscription request is approved without asking the user", function()
			type_row(ptype == "federated" and "fed_subscribe" or "pv_subscribe", function()
				local who = ({ ["fay@fed.test"] = fay, ["pat@pv.test"] = pat })[jid]
				assert(who:subscribe("alice@a.test"))
				assert(who:expect_presence{ from = "alice@a.test", type = "subscribed", timeout = T })
				assert(who:expect_presence{ from = "alice@a.test", type = "available", timeout = T })
				assert(alice:expect_no_presence(jid, "subscribe", 0.3))
				assert.equal("from", assert(alice:roster())[jid].subscription)
				assert.equal("to", assert(who:roster())["alice@a.test"].subscription)
				return "approved without asking the local user"
			end)
		end)
	end

	it("status notes reach federated contacts only (stripped for public types)", function()
		type_row("status", function()
			for _, who in ipairs({ fay, pat, uli }) do assert(who:clear()) end
			assert(alice:send_presence{ status = "in a meeting", show = "dnd" })
			assert(fay:expect_presence{ from = "alice@a.test", status = "in a meeting", timeout = T })
			for _, who in ipairs({ pat, uli }) do
				local s, rec = who:expect_status("alice@a.test", T)
				assert.is_false(s, rec and rec.xml)
				assert.equal("dnd", rec.show, rec.xml) -- the new presence, without its note
			end
			return "kept for federated; stripped for public_verified and public_unverified"
		end)
	end)
end)
