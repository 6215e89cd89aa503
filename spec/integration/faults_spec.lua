-- Faults at every step of s2s negotiation (README "Reliability"), both directions: a scripted
-- raw peer (rawpeer.lua) connects to a.test and breaks off; a scripted raw server
-- (rawserver.lua, the domains f.test and v.test) takes a.test's outgoing streams and breaks
-- off. After each fault: no Lua error or traceback in a.test's log, no per-stream state of the
-- module left once the stream is gone (modstate.lua reads it over the admin shell), and every
-- stanza alice had queued for the faulty peer comes back to her as an error (RFC 6120 §8.3).
--
-- Run: S2SP_PROSODY=13 lua5.4 /usr/bin/busted --run=integration spec/integration/faults_spec.lua
local harness = require "harness"
local rawpeer = require "rawpeer"
local rawserver = require "rawserver"
local modstate = require "harness.modstate"
local util = require "harness.util"

local T = util.WAIT -- bound for anything that must happen (see harness README)
local TIMEOUT = 6 -- s2s_timeout on a.test: an unauthenticated stream is closed after this
local HALF_OPEN = 2000 -- simultaneous half-open streams in the last test
local XMLNS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
local XMLNS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
local DIALBACK = "<dialback xmlns='urn:xmpp:features:dialback'/>"
local STARTTLS = "<starttls xmlns='" .. XMLNS_TLS .. "'/>"
local EXTERNAL = "<mechanisms xmlns='" .. XMLNS_SASL .. "'><mechanism>EXTERNAL</mechanism></mechanisms>"

local plugin_present, plugin_dir = harness.plugin_available()

describe("faults during s2s negotiation #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, b, fake, alice, bob, f_cert, mark
	local n = 0

	setup(function()
		env = harness.env()
		local partner = { type = "federated", tls = "optional", sasl = "optional", dialback = true }
		local function as(domain)
			local p = { domain = domain }
			for k, v in pairs(partner) do p[k] = v end
			return p
		end
		-- The raw server's certificate, for f.test and the dialback claimants v.test and pv.test
		-- (pinned: a late answer about it must not run the pin check on a stream that is gone).
		f_cert = env.ca:issue{ out = env.root .. "/f-test", cn = "f.test", names = { "f.test", "v.test", "pv.test" } }
		local pinned = as("pv.test")
		pinned.pin = assert(require("s2s_partners").spki_sha256(util.read_file(f_cert.cert)))
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true, log_level = "info",
			global_options = { s2s_timeout = TIMEOUT },
			vhost_options = { s2s_partners = { as("b.test"), as("f.test"), as("v.test"), pinned } } }
		b = env:server{ host = "b.test", users = { bob = "bob-pw" }, log_level = "info",
			s2s_require_encryption = false, s2s_secure_auth = false }
		-- f.test takes alice's stanzas; v.test, pv.test are the authoritative server of dialback claims.
		fake = rawserver.new(env, { hosts = { "f.test", "v.test", "pv.test" }, rcvbuf = 4096 })
		env:start()
		alice, bob = table.unpack(assert(env:client{ timeout = T }:login_many{
			{ jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b } }))
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	before_each(function() mark = a:log_mark() end)

	-- After every fault: nothing in a.test's log shows a Lua error.
	after_each(function()
		local problems = modstate.log_problems(a, mark)
		assert.same({}, problems)
	end)

	-- The module keeps nothing of streams that are gone, and Prosody has no stream left that the
	-- fault opened (only the real b.test's authenticated ones, if any).
	local function assert_clean(what)
		local state, last = modstate.wait(a, function(s)
			return s.pending == 0 and s.dead == 0 and s.unauthed_in == 0 and s.out <= 1
				and s.unlisted <= 50 and s.attempts <= 5
		end, { skip_addr = b.addr })
		assert(state, (what or "") .. ": state left behind: " .. tostring(last))
		return state
	end

	-- alice sends `count` messages to f.test (a.test opens a stream to the raw server); returns their ids.
	local function queue_for_fake(count)
		local ids = {}
		for i = 1, count or 3 do
			n = n + 1
			ids[i] = "q" .. n
			assert(alice:send_message{ to = "user@f.test", body = "queued " .. n, id = ids[i] })
		end
		return ids
	end

	-- Every one of `ids` comes back to alice as an error from f.test.
	local function assert_bounced(ids)
		for _, id in ipairs(ids) do
			local err = assert(alice:expect_error{ from = "user@f.test", kind = "message", id = id, timeout = T })
			assert.truthy(err.error and err.error.condition, err.xml)
		end
	end

	-- An outgoing fault: alice queues stanzas, the raw server accepts a.test's stream and `script`
	-- breaks it; every stanza bounces and nothing is left.
	local function outgoing(script, what)
		local ids = queue_for_fake(3)
		local conn = assert(fake:accept(T))
		script(conn)
		conn:drop()
		assert_bounced(ids)
		assert_clean(what)
	end

	-- A raw stream to a.test claiming `from`.
	local function connect(from)
		local peer = assert(rawpeer.connect(a.addr, 5269, T))
		assert(peer:open(from, "a.test"))
		return peer
	end

	-- A raw stream to a.test as b.test, taken as far as `upto`: "features" (read), "tls" (TLS
	-- with b.test's certificate, features again), "auth" (SASL EXTERNAL asked), "sasl"
	-- (authenticated, stream restarted). Returns the peer and the last features.
	local STEPS = { features = 1, tls = 2, auth = 3, sasl = 4 }
	local function as_b(upto)
		local step, peer = STEPS[upto], connect("b.test")
		local features = assert(peer:features(T))
		if step >= 2 then
			assert(peer:starttls{ timeout = T, certificate = b.cert, key = b.key })
			features = assert(peer:features(T))
		end
		if step >= 3 then assert(peer:auth_external()) end
		if step >= 4 then
			assert(peer:expect("success", XMLNS_SASL, T))
			assert(peer:restart())
			features = assert(peer:features(T))
		end
		return peer, features
	end

	describe("incoming (a raw peer connects to a.test)", function()
		it("closes right after its stream header", function()
			connect("b.test"):drop()
			assert_clean("header, no wait")
			as_b("features"):drop()
			assert_clean("header and features")
		end)

		it("closes after <starttls/>", function()
			local peer = as_b("features")
			assert(peer:send(STARTTLS))
			assert(peer:expect("proceed", XMLNS_TLS, T))
			peer:drop()
			assert_clean()
		end)

		it("closes in the middle of the TLS handshake", function()
			local peer = as_b("features")
			assert(peer:starttls{ timeout = T, partial = true })
			peer:drop()
			assert_clean()
		end)

		it("closes during SASL EXTERNAL, before and after the answer", function()
			local peer, features = as_b("tls")
			assert.truthy(rawpeer.mechanisms(features).EXTERNAL, peer:transcript())
			peer:drop()
			assert_clean("offered")
			as_b("auth"):drop()
			assert_clean("auth sent")
			as_b("sasl"):drop()
			assert_clean("authenticated")
			-- Half an <auth/> element.
			peer = as_b("tls")
			assert(peer:send("<auth xmlns='" .. XMLNS_SASL .. "' mechanism='EXTERNAL'>Yi5"))
			peer:drop()
			assert_clean("half an auth")
		end)

		-- The attempts the status keeps for `domain` that are not a.test's outgoing streams.
		local function incoming_attempts(domain)
			local out = a:shell((">local r = prosody.hosts['a.test'].modules.s2s_partners.s2s_partners_status.report(%q); "
				.. "local n = 0; for _, x in ipairs(r.partners[1].attempts) do if x.direction ~= 'outgoing' then n = n + 1 end end; "
				.. "return 'n=' .. n"):format(domain))
			return tonumber(out:match("n=(%d+)")) or out
		end

		-- The peer claims `domain` by dialback (over TLS with the raw server's certificate when
		-- `tls`, also on a.test's stream to the raw server, which is the domain's server); it reads the db:verify and
		-- then never answers, or answers `answer` once the claimant is gone.
		local function claim(domain, answer, tls)
			local peer = connect(domain)
			assert(peer:features(T))
			if tls then
				assert(peer:starttls{ timeout = T, certificate = f_cert.cert, key = f_cert.key })
				assert(peer:features(T))
			end
			assert(peer:dialback(domain, "a.test", "0123456789abcdef"))
			local conn = assert(fake:accept(T))
			if tls then
				assert(conn:answer(STARTTLS))
				assert(conn:proceed{ certificate = f_cert.cert, key = f_cert.key, timeout = T })
			end
			assert(conn:answer(DIALBACK))
			-- a.test authenticates its own stream first (its db:verify waits in the queue until then).
			assert(conn:expect("result", "jabber:server:dialback", T), conn:transcript())
			assert(conn:send(("<db:result from='%s' to='a.test' type='valid'/>"):format(domain)))
			local verify = assert(conn:expect("verify", "jabber:server:dialback", T), conn:transcript())
			local state = assert(modstate.read(a))
			assert.equal(1, state.pending, "the request awaits the answer of " .. domain)
			peer:drop()
			if answer then
				-- Once a.test has seen the claimant go, the answer comes.
				assert(modstate.wait(a, function(s) return s.unauthed_in == 0 end, { skip_addr = b.addr }))
				assert(conn:send(("<db:verify from='%s' to='a.test' id='%s' type='%s'>%s</db:verify>")
					:format(domain, verify.attr.id, answer, verify.text)))
				assert(a:wait_log("closed in the meantime", { since = mark, plain = true, timeout = T }))
			end
			return conn
		end

		it("closes while its dialback key is being verified and the authoritative server never answers", function()
			local conn = claim("v.test", nil)
			assert_clean("verify unanswered")
			conn:drop()
		end)

		for _, case in ipairs({ { "v.test", "valid" }, { "v.test", "invalid" }, { "pv.test", "valid", true } }) do
			local domain, answer, tls = table.unpack(case)
			it(("closes while its dialback key for %s is being verified; the answer (%s) comes after it is gone")
				:format(domain, answer), function()
					local before = incoming_attempts(domain)
					local conn = claim(domain, answer, tls)
					assert_clean("verify answered late")
					conn:drop()
					-- Nothing was accepted, or refused, for the stream that is gone.
					assert.equal(before, incoming_attempts(domain))
					assert.is_nil(a:log_contains("Refused %S+ s2s stream from " .. domain, { since = mark }))
				end)
		end

		it("sends garbage bytes, before and after its stream header", function()
			local peer = assert(rawpeer.connect(a.addr, 5269, T))
			assert(peer:send("\0\1\2\255 GET / HTTP/1.0\r\n\r\n"))
			util.poll(function() return not peer:pump(util.now() + 0.2) end, T, 0)
			assert.truthy(peer.closed, "a.test closes the connection")
			peer:drop()
			peer = as_b("features")
			assert(peer:send("<<<\0>>> &bogus; </nothing>"))
			assert.equal("not-well-formed", (peer:expect_stream_error(T)))
			peer:drop()
			assert_clean()
		end)

		it("sends an oversized element, before and after authenticating", function()
			local peer = as_b("features")
			-- Beyond mod_s2s's limit before authentication (s2s_unauthed_stanza_size_limit, 10000).
			assert(peer:send("<message to='alice@a.test'><body>" .. ("x"):rep(20000) .. "</body></message>"))
			assert.equal("policy-violation", (peer:expect_stream_error(T)))
			peer:drop()
			peer = as_b("sasl")
			-- Beyond s2s_stanza_size_limit (512 KiB) once authenticated.
			n = n + 1
			local body = "oversized " .. n
			assert(peer:send(("<message from='mallory@b.test' to='alice@a.test' id='o%d'><body>%s%s</body></message>")
				:format(n, body, ("y"):rep(600 * 1024))))
			assert.equal("policy-violation", (peer:expect_stream_error(T)))
			peer:drop()
			assert_clean()
			assert(alice:expect_no_message{ from = "mallory@b.test", within = 0.3 })
		end)
	end)

	describe("outgoing (a.test connects to f.test, a raw server)", function()
		it("closes right after the stream header", function()
			outgoing(function(conn) assert(conn:wait_header(T)) end, "before our header")
			outgoing(function(conn) assert(conn:answer(nil)) end, "after our header")
		end)

		it("closes after <starttls/>", function()
			outgoing(function(conn)
				assert(conn:answer(STARTTLS))
				assert(conn:expect("starttls", XMLNS_TLS, T), conn:transcript())
			end)
		end)

		it("closes in the middle of the TLS handshake", function()
			outgoing(function(conn)
				assert(conn:answer(STARTTLS))
				assert(conn:proceed{ certificate = f_cert.cert, key = f_cert.key, partial = true, timeout = T })
			end)
		end)

		it("closes during SASL EXTERNAL", function()
			outgoing(function(conn)
				assert(conn:answer(STARTTLS))
				assert(conn:proceed{ certificate = f_cert.cert, key = f_cert.key, timeout = T })
				assert(conn:answer(EXTERNAL .. DIALBACK))
				assert(conn:expect("auth", XMLNS_SASL, T), conn:transcript())
			end)
		end)

		it("never answers a.test's dialback request (a.test gives up after s2s_timeout)", function()
			outgoing(function(conn)
				assert(conn:answer(DIALBACK))
				assert(conn:expect("result", "jabber:server:dialback", T), conn:transcript())
				-- Silence: a.test closes the stream itself.
				util.poll(function() return not conn:pump(util.now() + 0.2) end, TIMEOUT + T, 0)
				assert.truthy(conn.closed, conn:transcript())
			end)
		end)

		it("sends garbage bytes", function()
			outgoing(function(conn)
				assert(conn:answer(nil))
				assert(conn:send("\0\1\2 <<<>>> &bogus;"))
			end)
		end)

		it("sends an oversized element", function()
			outgoing(function(conn)
				assert(conn:answer("<x xmlns='urn:example:big'>" .. ("z"):rep(20000) .. "</x>"))
			end)
		end)

		it("stops reading once authenticated: a.test's writes block, other traffic goes on", function()
			local ids = queue_for_fake(1)
			local conn = assert(fake:accept(T))
			assert(conn:answer(DIALBACK))
			assert(conn:expect("result", "jabber:server:dialback", T), conn:transcript())
			assert(conn:send("<db:result from='f.test' to='a.test' type='valid'/>"))
			assert(conn:expect("message", nil, T), conn:transcript()) -- the queued one, then no more reading
			-- Until a.test's socket to f.test has unsent data (its writes block), more and more.
			local big = ("w"):rep(60 * 1024)
			local blocked = util.poll(function()
				n = n + 1
				assert(alice:send_message{ to = "user@f.test", body = big, id = "big" .. n })
				local _, out = util.run(("ss -tnH state established dst %s:5269"):format(fake.addr))
				local send_q = tonumber(out:match("^%s*%d+%s+(%d+)"))
				return send_q and send_q > 64 * 1024 and send_q
			end, T, 0.1)
			assert(blocked, "a.test's writes to f.test never blocked")
			-- a.test still serves everyone else.
			assert(alice:send_message("bob@b.test", "while blocked"))
			assert(bob:expect_message{ from = "alice@a.test", body = "while blocked", timeout = T })
			conn:drop()
			assert_clean()
			assert.equal(1, #ids)
		end)
	end)
end)

-- Many streams that say who they are (or not) and then nothing: with Prosody's default
-- s2s_timeout (90 s) they all stay open together until the peer goes.
describe(HALF_OPEN .. " half-open streams #integration", function()
	if not plugin_present then
		pending("plugin not built")
		return
	end

	local env, a, b, alice, bob

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw" }, plugin = true, log_level = "info",
			vhost_options = { s2s_partners = { { domain = "b.test", type = "federated", tls = "optional" } } } }
		b = env:server{ host = "b.test", users = { bob = "bob-pw" }, log_level = "info",
			s2s_require_encryption = false, s2s_secure_auth = false }
		alice, bob = env:start_and_login{ { jid = "alice@a.test", server = a }, { jid = "bob@b.test", server = b } }
	end)

	teardown(function()
		if env then env:cleanup() end
	end)

	it("are all taken at once, and nothing of them is kept once they are gone", function()
		local mark, rss_before = a:log_mark(), modstate.rss(a)
		local peers, claims, kept = {}, { "b.test", "unlisted.test", false }, 0
		for i = 1, HALF_OPEN do
			local peer = assert(rawpeer.connect(a.addr, 5269, T))
			local from = claims[i % #claims + 1]
			assert(peer:open(from or nil, "a.test"))
			if from ~= "unlisted.test" then kept = kept + 1 end -- unlisted ones are refused at once
			peers[i] = peer
		end
		-- Every header was read: the partner's and the anonymous streams wait, unauthenticated.
		local open = assert(modstate.wait(a, function(s) return s.unauthed_in >= kept end, { skip_addr = b.addr }))
		local rss_open = modstate.rss(a)
		for _, peer in ipairs(peers) do peer:drop() end
		local state = assert(modstate.wait(a, function(s)
			return s.pending == 0 and s.dead == 0 and s.unauthed_in == 0 and s.unlisted <= 50 and s.attempts <= 5
		end, { skip_addr = b.addr }))
		-- a.test still federates.
		assert(alice:send_message("bob@b.test", "after the flood"))
		assert(bob:expect_message{ from = "alice@a.test", body = "after the flood", timeout = T })
		assert.same({}, modstate.log_problems(a, mark))
		io.stderr:write(("faults_spec: %d half-open streams (%d waiting at once): RSS %d -> %d -> %d KiB, "
			.. "Lua heap %d -> %d KiB\n"):format(HALF_OPEN, open.unauthed_in, rss_before, rss_open, modstate.rss(a),
			open.mem, state.mem))
	end)
end)
