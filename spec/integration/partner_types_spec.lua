-- Partner types (README "Partner types") between real Prosody 0.12 servers: a.test runs mod_s2s_partners
-- and lists four peer domains, all VirtualHosts of one stock Prosody server:
--   fed.test     federated (auto_approve by default)
--   pv.test      public_verified (auto_approve by default)
--   pu.test      public_unverified
--   noauto.test  federated with auto_approve = false
-- a.test also serves corp.a.test, whose own partner list makes pu.test federated (the rules
-- are per local host). Every test uses its own remote users, so rosters never need wiping.
-- Run: lua5.4 /usr/bin/busted --run=integration spec/integration/partner_types_spec.lua
local harness = require "harness"
local rawpeer = require "harness.rawpeer"
local mime = require "mime"

local T = require("harness.util").WAIT -- bound for anything that must happen (see harness README)
local QUIET = 0.4  -- "nothing arrives" window, used after a positive wait (usually a log line)
local AFTER = 0.05 -- a second "nothing arrived" check right after a QUIET window

local ALICE = "alice@a.test"

local PARTNERS = {
	{ domain = "fed.test", type = "federated" },
	{ domain = "pv.test", type = "public_verified" },
	{ domain = "pu.test", type = "public_unverified" },
	{ domain = "noauto.test", type = "federated", auto_approve = false },
}
local CORP_PARTNERS = { -- corp.a.test: the same domains, pu.test trusted more
	{ domain = "fed.test", type = "federated" },
	{ domain = "pu.test", type = "federated" },
}

local plugin_present, plugin_dir = harness.plugin_available()

describe("partner types on a.test #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, peer, acc = nil, nil, nil, {}

	setup(function()
		env = harness.env()
		a = env:server{
			host = "a.test", extra_hosts = { "corp.a.test" },
			users = { alice = "alice-pw", bert = "bert-pw", ["amy@corp.a.test"] = "amy-pw" },
			modules = { "blocklist", "lastactivity", "s2sp_test_route_count" },
			global_options = { statistics = "internal", -- counters: stats:show()
				plugin_paths = { (harness.Server.plugin_paths()), harness.util.abspath("spec/fixtures/plugins") } },
			plugin = true, vhost_options = { s2s_partners = PARTNERS },
			host_options = { ["corp.a.test"] = { s2s_partners = CORP_PARTNERS } },
		}
		peer = env:server{
			host = "fed.test", extra_hosts = { "pv.test", "pu.test", "noauto.test" },
			users = {
				fred = "pw", fiona = "pw", fay = "pw", fritz = "pw",
				["pat@pv.test"] = "pw", ["peg@pv.test"] = "pw",
				["uma@pu.test"] = "pw", ["ulf@pu.test"] = "pw", ["ursula@pu.test"] = "pw", ["uli@pu.test"] = "pw",
				["nora@noauto.test"] = "pw",
			},
		}
		env:start()
		local clients = env:client{ timeout = T }
		local logins = {
			{ jid = ALICE, server = a }, { jid = "bert@a.test", server = a }, { jid = "amy@corp.a.test", server = a },
		}
		for _, jid in ipairs({ "fred@fed.test", "fiona@fed.test", "fay@fed.test", "fritz@fed.test", "pat@pv.test",
			"peg@pv.test", "uma@pu.test", "ulf@pu.test", "ursula@pu.test", "uli@pu.test", "nora@noauto.test" }) do
			logins[#logins + 1] = { jid = jid, server = peer }
		end
		local list
		if clients.login_many then
			list = assert(clients:login_many(logins))
		else
			list = {}
			for i, opts in ipairs(logins) do list[i] = assert(clients:login(opts)) end
		end
		for i, opts in ipairs(logins) do acc[opts.jid:match("^[^@]+")] = list[i] end
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	-- The next available presence from `from` that carries <show>`show`</show> (earlier
	-- presences from the same contact, e.g. from a subscription approval, are skipped).
	local function next_presence(account, from, show)
		local deadline = harness.util.now() + T
		while harness.util.now() <= deadline do
			local r, err = account:expect_presence{ from = from, type = "available", timeout = T }
			if not r then return nil, err end
			if r.show == show then return r end
		end
		return nil, "no presence with show " .. show .. " from " .. from .. " at " .. account.jid
	end

	-- Wait for a debug line of the contact rules (the stanza reached a.test and was dropped).
	local function wait_drop(since, kind, from)
		return a:wait_log(("Dropping %s from %s"):format(kind, from), { since = since, timeout = T, plain = true })
	end

	-- How many handlers a.test's presence/bare and presence/full chains have (its admin shell).
	local function presence_chains()
		local out = a:shell('> local e = prosody.hosts["a.test"].events; return #e.get_handlers("presence/bare")'
			.. ' .. "/" .. #e.get_handlers("presence/full")')
		return assert(out:match("Result: (%d+/%d+)"), out)
	end

	it("approves subscription requests from federated and public_verified users without asking", function()
		local remotes = { "fred@fed.test", "pat@pv.test" }
		-- the approval's handler is in the chain only while such a request goes down it (README
		-- "Performance"): the chains are the same before and after
		local chains = presence_chains()
		for _, jid in ipairs(remotes) do assert(acc[jid:match("^[^@]+")]:subscribe(ALICE)) end
		for _, jid in ipairs(remotes) do
			local remote = acc[jid:match("^[^@]+")]
			-- The local user's client learns of the new contact through a roster push only.
			local item = assert(acc.alice:expect_roster_push(jid, T))
			assert.equal("from", item.subscription)
			assert.is_nil(item.ask)
			-- The remote user is told at once and gets the local user's presence.
			assert(remote:expect_presence{ from = ALICE, type = "subscribed", timeout = T })
			assert(remote:expect_presence{ from = ALICE, type = "available", timeout = T })
			assert.equal("to", assert(remote:roster())[ALICE].subscription)
			assert.equal("from", assert(acc.alice:roster())[jid].subscription)
		end
		assert(acc.alice:expect_no_presence{ from = remotes[1], type = "subscribe", within = QUIET })
		assert(acc.alice:expect_no_presence{ from = remotes[2], type = "subscribe", within = AFTER })
		assert.equal(chains, presence_chains())
	end)

	-- A raw s2s stream from `domain` to a.test, authenticated with SASL EXTERNAL (the peer
	-- server's certificate names every peer domain): lets a test send what a stock server never
	-- would, e.g. a subscription request addressed to a full JID.
	local function raw_stream(domain)
		local p = assert(rawpeer.connect(a.addr, 5269, T))
		local NS_STREAM, NS_SASL = "http://etherx.jabber.org/streams", "urn:ietf:params:xml:ns:xmpp-sasl"
		assert(p:open(domain, "a.test"))
		assert(p:expect("features", NS_STREAM, T))
		assert(p:starttls{ certificate = peer.cert, key = peer.key, timeout = T })
		assert(p:expect("features", NS_STREAM, T))
		assert(p:send(("<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>"):format(NS_SASL, (mime.b64(domain)))))
		assert(p:expect("success", NS_SASL, T))
		p:new_parser()
		assert(p:open(domain, "a.test"))
		assert(p:expect("features", NS_STREAM, T))
		return p
	end

	it("drops a public_unverified stranger's subscription request silently", function()
		local mark = a:log_mark()
		assert(acc.uma:subscribe(ALICE))
		assert(wait_drop(mark, "subscribe", "uma@pu.test"))
		assert(acc.alice:expect_no_presence{ from = "uma@pu.test", within = QUIET })
		assert(acc.alice:expect_none{ kind = "iq", roster_jid = "uma@pu.test", within = AFTER })
		assert(acc.uma:expect_none{ from = "a.test", within = AFTER })
		assert(acc.uma:expect_none{ from = ALICE, within = AFTER })
		assert.is_nil(assert(acc.alice:roster())["uma@pu.test"])
		local item = assert(acc.uma:roster())[ALICE]
		assert.equal("none", item.subscription)
		assert.equal("subscribe", item.ask) -- still waiting: nothing came back
	end)

	it("lets a public_unverified user's request reach the local user who invited first", function()
		local ursula = acc.ursula
		assert(acc.alice:subscribe("ursula@pu.test"))
		assert.equal("subscribe", assert(acc.alice:expect_roster_push("ursula@pu.test", T)).ask)
		assert(ursula:expect_presence{ from = ALICE, type = "subscribe", timeout = T })
		assert(ursula:subscribed(ALICE))
		assert(ursula:subscribe(ALICE))
		assert(acc.alice:expect_presence{ from = "ursula@pu.test", type = "subscribed", timeout = T })
		-- Asked as usual: the request reaches the client, the roster says "to" until approved.
		assert(acc.alice:expect_presence{ from = "ursula@pu.test", type = "subscribe", timeout = T })
		assert.equal("to", assert(acc.alice:roster())["ursula@pu.test"].subscription)
		assert(acc.alice:subscribed("ursula@pu.test"))
		assert(ursula:expect_presence{ from = ALICE, type = "subscribed", timeout = T })
		assert(ursula:expect_presence{ from = ALICE, type = "available", timeout = T })
		assert.equal("both", assert(acc.alice:roster())["ursula@pu.test"].subscription)
	end)

	it("still approves federated and public_verified requests without asking after an invitation", function()
		local remotes = { "fiona@fed.test", "peg@pv.test" }
		for _, jid in ipairs(remotes) do
			assert(acc.alice:subscribe(jid))
			assert.equal("subscribe", assert(acc.alice:expect_roster_push(jid, T)).ask)
		end
		for _, jid in ipairs(remotes) do
			local remote = acc[jid:match("^[^@]+")]
			assert(remote:expect_presence{ from = ALICE, type = "subscribe", timeout = T })
			assert(remote:subscribe(ALICE)) -- the remote user asks back before answering
			local item = assert(acc.alice:expect_roster_push(jid, T))
			assert.equal("from", item.subscription)
			assert.equal("subscribe", item.ask)
			assert(remote:expect_presence{ from = ALICE, type = "subscribed", timeout = T })
		end
		assert(acc.alice:expect_no_presence{ from = remotes[1], type = "subscribe", within = QUIET })
		assert(acc.alice:expect_no_presence{ from = remotes[2], type = "subscribe", within = AFTER })
	end)

	it("asks the local user as usual for a federated partner with auto_approve = false", function()
		local nora = acc.nora
		assert(nora:subscribe(ALICE))
		assert(acc.alice:expect_presence{ from = "nora@noauto.test", type = "subscribe", timeout = T })
		assert(nora:expect_presence{ from = ALICE, type = "unavailable", timeout = T }) -- receipt, as usual
		assert.is_nil(assert(acc.alice:roster())["nora@noauto.test"])
		assert(nora:expect_no_presence{ from = ALICE, type = "subscribed", within = AFTER })
		assert(acc.alice:subscribed("nora@noauto.test"))
		assert(nora:expect_presence{ from = ALICE, type = "subscribed", timeout = T })
		assert.equal("from", assert(acc.alice:roster())["nora@noauto.test"].subscription)
	end)

	it("applies the same rules to a subscription request addressed to a full JID", function()
		local mark = a:log_mark()
		local pu = raw_stream("pu.test")
		assert(pu:send(("<presence type='subscribe' from='mallory@pu.test/x' to='%s'/>"):format(acc.alice.full_jid)))
		assert(wait_drop(mark, "subscribe", "mallory@pu.test/x"))
		local fed = raw_stream("fed.test")
		assert(fed:send(("<presence type='subscribe' from='max@fed.test/x' to='%s'/>"):format(acc.alice.full_jid)))
		assert.equal("from", assert(acc.alice:expect_roster_push("max@fed.test", T)).subscription)
		assert(acc.alice:expect_no_presence{ from = "mallory@pu.test", within = QUIET })
		assert(acc.alice:expect_no_presence{ from = "max@fed.test", type = "subscribe", within = AFTER })
		assert.is_nil(assert(acc.alice:roster())["mallory@pu.test"])
		pu:close()
		fed:close()
	end)

	it("never auto-approves a blocked contact or an account that does not exist", function()
		local fritz, fred = acc.fritz, acc.fred
		local r = assert(acc.alice:iq{ type = "set", timeout = T,
			payload = "<block xmlns='urn:xmpp:blocking'><item jid='fritz@fed.test'/></block>" })
		assert.equal("result", r.type, r.xml)
		assert(fritz:subscribe(ALICE))
		-- An IQ to a.test on the same streams: once answered, the request has been processed.
		assert.equal("result", assert(fritz:version("a.test", T)).type)
		assert(fritz:expect_no_presence{ from = ALICE, type = "subscribed", within = AFTER })
		assert(acc.alice:expect_none{ kind = "iq", roster_jid = "fritz@fed.test", within = QUIET })
		assert.is_nil(assert(acc.alice:roster())["fritz@fed.test"])
		-- No account: answered like any other unknown account by mod_presence (no roster made up).
		assert(fred:subscribe("ghost@a.test"))
		assert(fred:expect_presence{ from = "ghost@a.test", type = "unavailable", timeout = T })
		assert(fred:expect_no_presence{ from = "ghost@a.test", type = "subscribed", within = AFTER })
	end)

	it("applies each local host's own partner list", function()
		-- pu.test is public_unverified for a.test but federated for corp.a.test.
		local uli = acc.uli
		local mark = a:log_mark()
		assert(uli:subscribe(ALICE))
		assert(uli:subscribe("amy@corp.a.test"))
		assert.equal("from", assert(acc.amy:expect_roster_push("uli@pu.test", T)).subscription)
		assert(uli:expect_presence{ from = "amy@corp.a.test", type = "subscribed", timeout = T })
		assert(wait_drop(mark, "subscribe", "uli@pu.test"))
		assert(uli:expect_no_presence{ from = ALICE, within = AFTER })
		assert(acc.alice:expect_no_presence{ from = "uli@pu.test", within = AFTER })
	end)

	it("drops a public_unverified stranger's messages and IQs until the user adds the contact", function()
		local ulf, alice = acc.ulf, acc.alice
		local mark = a:log_mark()
		assert(ulf:send_message(ALICE, "hello from a stranger"))
		assert(ulf:send_raw("<iq type='get' id='pt-bare' to='alice@a.test'>"
			.. "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
		assert(ulf:send_raw(("<iq type='get' id='pt-full' to='%s'><query xmlns='jabber:iq:version'/></iq>")
			:format(alice.full_jid)))
		-- Directed presence would push status text to the user: dropped too.
		assert(ulf:send_presence{ to = ALICE, status = "buy my books" })
		assert(wait_drop(mark, "message", "ulf@pu.test"))
		assert(wait_drop(mark, "iq", "ulf@pu.test"))
		assert(wait_drop(mark, "presence", "ulf@pu.test"))
		assert(alice:expect_no_presence{ from = "ulf@pu.test", within = AFTER })
		assert(a:wait_log("Dropping iq from ulf@pu.test/[^ ]+ %([^)]+%) to alice@a.test/", { since = mark, timeout = T }))
		-- No delivery, no error, no answer: the stranger learns nothing about the account.
		assert(alice:expect_no_message{ from = "ulf@pu.test", within = QUIET })
		assert(alice:expect_none{ kind = "iq", from = "ulf@pu.test", within = AFTER })
		assert(ulf:expect_none{ from = ALICE, within = AFTER })
		assert(ulf:expect_none{ from = "a.test", within = AFTER })
		-- Answers to the local user's own requests do come through.
		local r = assert(alice:version(ulf.full_jid, T))
		assert.equal("result", r.type, r.xml)

		assert(alice:roster_add("ulf@pu.test"))
		assert(alice:expect_roster_push("ulf@pu.test", T))
		assert(ulf:send_message(ALICE, "hello again"))
		assert(alice:expect_message{ from = "ulf@pu.test", body = "hello again", timeout = T })
		assert(ulf:send_presence{ to = ALICE, status = "now a contact" })
		assert.equal("now a contact", (assert(alice:expect_status("ulf@pu.test", T))))
		r = assert(ulf:version(alice.full_jid, T))
		assert.equal("result", r.type, r.xml)
		-- Removed again: a stranger again, on the same stream, to the bare and the full JID (the
		-- roster is read for every stanza; nothing is remembered from the stanzas that passed).
		assert(alice:roster_remove("ulf@pu.test"))
		assert(alice:expect_roster_push("ulf@pu.test", T))
		mark = a:log_mark()
		assert(ulf:send_message(ALICE, "still there?"))
		assert(ulf:send_raw(("<message type='chat' to='%s'><body>to your resource</body></message>"):format(alice.full_jid)))
		assert(wait_drop(mark, "message", "ulf@pu.test"))
		assert(a:wait_log("Dropping message from ulf@pu.test/[^ ]+ %([^)]+%) to alice@a.test/", { since = mark, timeout = T }))
		assert(alice:expect_no_message{ from = "ulf@pu.test", within = QUIET })
		-- The drops were counted.
		local stats = a:shell("stats:show('s2s_partners/dropped')")
		for _, kind in ipairs({ "message", "iq", "subscribe" }) do
			assert.truthy(stats:find("partner_type=public_unverified kind=" .. kind, 1, true), stats)
		end
	end)

	it("shows the status note to federated and local contacts only, from one broadcast", function()
		local alice, bert = acc.alice, acc.bert
		assert(bert:subscribe(ALICE))
		assert(alice:expect_presence{ from = "bert@a.test", type = "subscribe", timeout = T })
		assert(alice:subscribed("bert@a.test"))
		assert(bert:expect_presence{ from = ALICE, type = "subscribed", timeout = T })
		-- Contacts subscribed to alice by now: fred, fiona (federated), pat, peg (public_verified),
		-- ursula (public_unverified), nora (federated, asked), bert (local).
		assert(alice:send_presence{ show = "dnd", status = "In a meeting" })
		for _, name in ipairs({ "fred", "fiona", "nora", "bert" }) do
			local p = assert(next_presence(acc[name], ALICE, "dnd"))
			assert.equal("In a meeting", p.status, name .. ": " .. p.xml)
		end
		for _, name in ipairs({ "pat", "peg", "ursula" }) do
			local p = assert(next_presence(acc[name], ALICE, "dnd"))
			assert.is_nil(p.status, name .. ": " .. p.xml)
			assert.falsy(p.xml:find("<status", 1, true), name .. ": " .. p.xml)
		end
		-- The user's own copy is untouched too.
		local own = assert(next_presence(alice, ALICE, "dnd"))
		assert.equal("In a meeting", own.status)
		local stats = a:shell("stats:show('s2s_partners/status_stripped')")
		for _, partner_type in ipairs({ "public_verified", "public_unverified" }) do
			assert.truthy(stats:find("partner_type=" .. partner_type, 1, true), stats)
		end
		assert.falsy(stats:find("partner_type=federated", 1, true), stats)
	end)

	-- The note is taken out only while the handlers after the rule's run: a module hooked above
	-- it sees each presence once, with its note, as it would without partner rules.
	it("routes a stripped presence once, as other modules on route/remote see it", function()
		local function routed()
			return tonumber(a:shell('> require"core.modulemanager".get_module("a.test", "s2sp_test_route_count")'
				.. '.route_counts.presence'):match("Result: (%d+)"))
		end
		local before = assert(routed())
		assert(acc.alice:send_presence{ to = "pat@pv.test", show = "away", status = "Seen once" })
		local pat = assert(next_presence(acc.pat, ALICE, "away"))
		assert.is_nil(pat.status, pat.xml)
		assert.equal(before + 1, routed())
	end)

	-- The note is taken out only while route/remote runs: what mod_s2s queues for a stream it is
	-- still setting up must be the stripped stanza, and alice's presence whole again afterwards.
	it("strips the status note from presence queued while a new stream to the partner is set up", function()
		local alice = acc.alice
		for _, row in ipairs(a:find_s2s{ remote = "pv.test" }) do a:shell(("s2s:close(%q)"):format(row.id)) end
		assert(harness.util.poll(function() return #a:find_s2s{ remote = "pv.test" } == 0 end, T, 0.05),
			"a.test's streams with pv.test did not close")
		local mark = a:log_mark()
		assert(alice:send_presence{ show = "xa", status = "Behind a new stream" })
		local pat = assert(next_presence(acc.pat, ALICE, "xa"))
		assert(a:wait_log("queued stanzas across new outgoing connection to pv.test", { since = mark, timeout = T, plain = true }))
		assert.is_nil(pat.status, pat.xml)
		assert.falsy(pat.xml:find("<status", 1, true), pat.xml)
		assert.equal("Behind a new stream", assert(next_presence(acc.fred, ALICE, "xa")).status)
		assert.equal("Behind a new stream", assert(next_presence(acc.bert, ALICE, "xa")).status)
		-- The user's own copy (the stanza the broadcast shares) keeps it too.
		assert.equal("Behind a new stream", assert(next_presence(alice, ALICE, "xa")).status)
	end)

	-- A user chooses how many notes a presence has (one per xml:lang, RFC 6121 §4.7.2.2): a few
	-- are taken out in place, many from a copy, all as surely as one, and the broadcast's other
	-- recipients still get them all.
	for _, case in ipairs({ { n = 3, show = "dnd" }, { n = 40, show = "chat" } }) do
		it(("strips every one of %d status notes and keeps them for the others"):format(case.n), function()
			local notes = {}
			for i = 1, case.n do notes[i] = ("<status xml:lang='x-l%d'>note %d</status>"):format(i, i) end
			assert(acc.alice:send_raw(("<presence><show>%s</show>%s</presence>"):format(case.show, table.concat(notes))))
			local pat = assert(next_presence(acc.pat, ALICE, case.show))
			assert.falsy(pat.xml:find("<status", 1, true), pat.xml)
			assert.truthy(pat.xml:find("<show>" .. case.show .. "</show>", 1, true), pat.xml)
			for _, name in ipairs({ "fred", "bert" }) do
				local p = assert(next_presence(acc[name], ALICE, case.show))
				for i = 1, case.n do assert.truthy(p.xml:find(("note %d<"):format(i), 1, true), name .. ": " .. p.xml) end
			end
		end)
	end

	it("keeps the last status note out of jabber:iq:last answers to public partners (XEP-0012)", function()
		local alice = acc.alice
		-- fred (federated) and pat (public_verified) are subscribed to alice by now.
		finally(function() alice:send_presence{} end) -- available again for the tests below
		assert(alice:send_presence{ type = "unavailable", status = "Gone fishing" })
		local fred = assert(acc.fred:iq{ to = ALICE, payload = "<query xmlns='jabber:iq:last'/>", timeout = T })
		assert.equal("result", fred.type, fred.xml)
		assert.truthy(fred.xml:find("Gone fishing", 1, true), fred.xml)
		local pat = assert(acc.pat:iq{ to = ALICE, payload = "<query xmlns='jabber:iq:last'/>", timeout = T })
		assert.equal("result", pat.type, pat.xml)
		assert.truthy(pat.xml:find("jabber:iq:last", 1, true), pat.xml)
		assert.falsy(pat.xml:find("Gone fishing", 1, true), pat.xml)
	end)

	it("follows a partner type change made by a config reload", function()
		local changed = {
			{ domain = "fed.test", type = "public_unverified" },
			{ domain = "pv.test", type = "public_verified" },
			{ domain = "pu.test", type = "federated" },
			{ domain = "noauto.test", type = "federated", auto_approve = false },
		}
		a:configure{ vhost_options = { s2s_partners = changed } }
		a:reload()
		-- pu.test is federated now: uma's (earlier dropped) request is approved at once.
		assert(acc.uma:subscribe(ALICE))
		assert.equal("from", assert(acc.alice:expect_roster_push("uma@pu.test", T)).subscription)
		assert(acc.uma:expect_presence{ from = ALICE, type = "subscribed", timeout = T })
		-- fed.test is public_unverified now: a stranger there is dropped, a contact is not.
		local mark = a:log_mark()
		assert(acc.fay:send_message(ALICE, "stranger after reload"))
		assert(acc.fred:send_message(ALICE, "contact after reload"))
		assert(acc.alice:expect_message{ from = "fred@fed.test", body = "contact after reload", timeout = T })
		assert(wait_drop(mark, "message", "fay@fed.test"))
		-- Status notes follow the new types.
		assert(acc.alice:send_presence{ show = "away", status = "After the reload" })
		assert.equal("After the reload", assert(next_presence(acc.uma, ALICE, "away")).status)
		assert.is_nil(assert(next_presence(acc.fred, ALICE, "away")).status)
		assert(acc.alice:expect_no_message{ from = "fay@fed.test", within = AFTER })
	end)
end)
