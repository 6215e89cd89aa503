-- The live probe (README "Probe") against real servers of the harness: for each kind of
-- partner server, what `s2s_partners:probe` reports and its verdict against the partner's rule.
-- The report is read in the shell's output (what an admin sees) and, for exact facts, from the
-- probe's kept result (through Prosody's global shell environment). Hostile peers (garbage, a
-- flood of features, a slow-loris) come from a small scripted listener; ejabberd has its own block.
--
-- Run: S2SP_PROSODY=0.12 lua5.4 /usr/bin/busted --run=integration spec/integration/probe_spec.lua
local harness = require "harness"
local ejabberd = require "harness.ejabberd"
local util = require "harness.util"
local json = require "dkjson"

local T = util.WAIT -- bound for anything that must happen (see harness README)
local NS = "urn:xmpp:s2s-partners#"
local WRONG_PIN = ("ab"):rep(32)

local plugin_present, plugin_dir = harness.plugin_available()

local PARTNERS = {
	{ domain = "trusted.test", type = "federated", additional_domains = { "alt.trusted.test" } },
	{ domain = "pin.trusted.test", type = "federated", pin = WRONG_PIN },
	{ domain = "x1.trusted.test" }, { domain = "x2.trusted.test" }, { domain = "x3.trusted.test" },
	{ domain = "x4.trusted.test" },
	{ domain = "untrusted.test", type = "federated" },
	{ domain = "strict.untrusted.test", type = "federated", tls = "required", sasl = "required", dialback = false },
	{ domain = "expired.test", type = "federated" },
	{ domain = "wrongname.test", type = "federated" },
	{ domain = "notls.test", type = "federated" },                       -- tls = required (default): misconfigured
	{ domain = "reqtls.test", type = "federated", tls = "not_supported", sasl = "not_supported" }, -- misconfigured
	{ domain = "nodb.test", type = "federated", sasl = "not_supported" }, -- TLS dialback only, and none offered
	{ domain = "down.test", type = "federated" },
	{ domain = "garbage.test" }, { domain = "huge.test" }, { domain = "slow.test" },
}

-- A scripted listener for hostile-peer cases, by the stream's `to`: garbage.test answers with
-- bytes that are not XML, huge.test with endless stream features, slow.test one byte a second.
local HOSTILE = [[
import socket, sys, threading, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], 5269)); srv.listen(8)
HEAD = b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='x'>"
def serve(c):
    try:
        data = b""
        while b"to=" not in data or b">" not in data.split(b"to=", 1)[1]:
            chunk = c.recv(4096)
            if not chunk: return
            data += chunk
        if b"garbage.test" in data:
            c.sendall(b"\x00\xff this is <<< not XML >>>\n" * 10); time.sleep(30)
        elif b"huge.test" in data:
            c.sendall(HEAD + b"<stream:features>")
            while True: c.sendall(b"<x xmlns='urn:example:flood'>" + b"y" * 4000 + b"</x>")
        else:
            for b in HEAD:
                c.sendall(bytes([b])); time.sleep(1)
    except OSError:
        pass
    finally:
        c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
]]

-- The kept result of the last probe of `domain` on a.test: { facts, verdict, summary, … }.
local function last_probe(a, domain)
	local out = a:shell((">return require'util.json'.encode(require'core.modulemanager'.get_module('a.test', "
		.. "'s2s_partners').s2s_partners_probe.last(%q))"):format(domain))
	local text = out:match("Result: (%b{})")
	assert(text, out)
	return assert(json.decode(text), text)
end

-- The connection that answered, and the verdict entry of one method.
local function answered(r)
	local attempts = r.facts.attempts
	return attempts[#attempts]
end
local function method(r, name)
	for _, m in ipairs(r.verdict.methods) do if m.name == name then return m end end
end
local function has(list, text)
	for _, item in ipairs(list or {}) do if item:find(text, 1, true) then return item end end
end

-- Run `s2s_partners:probe(a.test, domain[, true])` in the shell: its output and the kept result.
local function probe(a, domain, authenticate)
	local out = a:shell(("s2s_partners:probe(%q, %q%s)"):format("a.test", domain, authenticate and ", true" or ""))
	assert.matches("OK: " .. domain:gsub("%p", "%%%0") .. ": ", out)
	return last_probe(a, domain), out
end

describe("live probe #integration", function()
	if not plugin_present then
		pending("plugin not built (" .. plugin_dir .. "/mod_s2s_partners.lua missing): run `make all`")
		return
	end

	local env, a, hostile, alice, mallory, hostile_pid

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", users = { alice = "alice-pw", mallory = "mallory-pw" }, plugin = true,
			global_options = { admins = { "alice@a.test" } }, vhost_options = { s2s_partners = PARTNERS } }
		env:server{ host = "trusted.test",
			extra_hosts = { "alt.trusted.test", "pin.trusted.test", "x1.trusted.test", "x2.trusted.test", "x3.trusted.test",
				"x4.trusted.test" } }
		env:dialback_only_server{ host = "untrusted.test", extra_hosts = { "strict.untrusted.test" } }
		env:server{ host = "expired.test", cert = "expired" }
		env:server{ host = "wrongname.test", cert = "wrong_name" }
		env:server{ host = "notls.test", global_options = { s2s_allow_encryption = false } }
		env:server{ host = "reqtls.test", s2s_require_encryption = true }
		env:server{ host = "nodb.test", global_options = { modules_disabled = { "dialback" } } }
		env:add_host("down.test", "127.0.0.255") -- nothing listens there
		hostile = { host = "garbage.test", hosts = { "garbage.test", "huge.test", "slow.test" }, s2s_port = 5269, c2s_port = 5222,
			opts = {} }
		env:claim_addr(hostile)
		local script = env.root .. "/hostile.py"
		util.write_file(script, HOSTILE)
		hostile.handle = util.spawn(("echo $$ > %s/hostile.pid; exec python3 %s %s"):format(env.root, script, hostile.addr))
		hostile_pid = util.poll(function() return tonumber((util.read_file(env.root .. "/hostile.pid") or ""):match("%d+")) end, T)
		env:record_pid(hostile_pid, "hostile peer")
		assert(util.poll(function() return util.port_open(hostile.addr, 5269) end, T), "hostile peer not listening")
		env:start()
		local clients = env:client()
		alice, mallory = table.unpack(assert(clients:login_many{ { jid = "alice@a.test", server = a },
			{ jid = "mallory@a.test", server = a } }))
	end)

	teardown(function()
		if hostile_pid then util.kill(hostile_pid, "KILL") end
		if env then
			env:release_addr(hostile)
			env:cleanup()
		end
	end)

	it("a trusted Prosody peer: every allowed method can succeed, SASL EXTERNAL really does", function()
		local r, out = probe(a, "trusted.test", true)
		local c = answered(r)
		assert.is_true(c.connected)
		assert.equal("default port", c.service)
		-- Prosody's default s2s_require_encryption = true: STARTTLS is required
		assert.same({ starttls = true, starttls_required = true, dialback = true, sasl = {}, external = false }, c.before_tls)
		assert.is_true(c.tls.ok)
		assert.matches("^TLSv1%.[23]$", c.tls.protocol)
		assert.equal("valid", c.cert.chain)
		assert.same({ { domain = "trusted.test", ok = true, how = "dns-id" }, { domain = "alt.trusted.test", ok = true,
			how = "dns-id" } }, c.cert.identity) -- the harness names every extra host
		assert.is_true(c.cert.days_left >= 28 and c.cert.days_left <= 30, tostring(c.cert.days_left))
		assert.is_true(c.cert.server_auth and c.cert.client_auth)
		assert.matches("^%x+$", c.cert.spki_sha256)
		assert.is_true(c.after_tls.external)
		assert.is_true(c.after_tls.dialback)
		assert.equal("success", c.auth.sasl_external.outcome)
		assert.is_nil(c.error) -- closed cleanly
		assert.is_true(r.verdict.ok)
		assert.equal("sasl_tls", r.verdict.outgoing)
		assert.is_true(method(r, "tls_dialback").possible)
		assert.is_false(method(r, "tcp_dialback").allowed)
		assert.same({ "sasl_tls", "tls_dialback" }, r.verdict.incoming.accepted)
		assert.matches("SASL EXTERNAL attempt%s+success", out)
		assert.matches("verdict%s+trusted.test: outgoing streams can authenticate by SASL EXTERNAL over TLS", out)
		-- what the peer saw: a SASL EXTERNAL stream from a.test, closed by us, and nothing of mod_s2s on a.test
		assert.same({}, a:find_s2s{ remote = "trusted.test" })
	end)

	it("refuses a second probe of a domain within 10 s, and says so", function()
		local out = a:shell('s2s_partners:probe("a.test", "trusted.test")')
		assert.matches("Error: probe refused: trusted.test was probed %d+ s ago; one probe per domain every 10 s", out)
		assert.matches("Error: stranger.test is not a federation partner of a.test: the probe checks a partner's server",
			(a:shell('s2s_partners:probe("a.test", "stranger.test")')), 1, true)
		assert.matches("Error: a.test is a host of this server", (a:shell('s2s_partners:probe("a.test", "a.test")')), 1, true)
	end)

	it("an untrusted (self-signed) certificate: dialback only", function()
		local r = probe(a, "untrusted.test", true)
		local c = answered(r)
		assert.equal("invalid", c.cert.chain)
		assert.truthy(has(c.cert.chain_errors, "self-signed") or has(c.cert.chain_errors, "self signed"), json.encode(c.cert))
		assert.is_false(c.after_tls.external) -- it does not trust a.test either
		assert.is_nil(c.auth) -- nothing to attempt
		assert.equal("tls_dialback", r.verdict.outgoing)
		assert.matches("its certificate is not trusted by this host", method(r, "sasl_tls").why, 1, true)
		assert.equal("not trusted here", r.verdict.incoming.certificate)
	end)

	it("the same server under a rule that needs SASL EXTERNAL: nothing works, and the fix is named", function()
		local r, out = probe(a, "strict.untrusted.test")
		assert.is_false(r.verdict.ok)
		assert.truthy(has(r.verdict.fixes, "ask the partner for a certificate from a CA this host trusts, or add its CA "
			.. "to this host's ssl cafile; or allow dialback (dialback = true, sasl = optional)"), json.encode(r.verdict))
		assert.matches("fix%s+ask the partner for a certificate", out)
	end)

	it("an expired certificate", function()
		local r = probe(a, "expired.test")
		local c = answered(r)
		assert.is_true(c.cert.expired)
		assert.is_true(c.cert.days_left < -300)
		assert.truthy(has(c.cert.chain_errors, "expired"), json.encode(c.cert))
		assert.matches("^its certificate expired %d+ days ago$", method(r, "sasl_tls").why)
		assert.equal("tls_dialback", r.verdict.outgoing)
	end)

	it("a certificate that names another domain", function()
		local r, out = probe(a, "wrongname.test")
		local c = answered(r)
		assert.equal("valid", c.cert.chain)
		assert.same({ { domain = "wrongname.test", ok = false } }, c.cert.identity)
		assert.equal("its certificate does not name wrongname.test (it names wrong-name.invalid, *.wrong-name.invalid)",
			method(r, "sasl_tls").why)
		assert.equal("tls_dialback", r.verdict.outgoing)
		assert.matches("identity wrongname.test%s+does not name it", out)
	end)

	it("a server without TLS, under tls = required: the fix says to set tls = optional", function()
		local r, out = probe(a, "notls.test")
		local c = answered(r)
		assert.is_false(c.before_tls.starttls)
		assert.is_true(c.before_tls.dialback)
		assert.is_nil(c.tls)
		assert.is_false(r.verdict.ok)
		assert.same({ "tls = required but the server does not offer STARTTLS: set tls = optional or ask the partner to "
			.. "enable TLS" }, r.verdict.fixes)
		assert.matches("features before TLS%s+no STARTTLS; dialback", out)
	end)

	it("a server that requires TLS, under tls = not_supported", function()
		local r = probe(a, "reqtls.test")
		local c = answered(r)
		assert.is_true(c.before_tls.starttls_required)
		assert.is_false(r.verdict.ok)
		assert.equal("the server requires STARTTLS", method(r, "tcp_dialback").why)
		assert.same({ "set tls = optional or required (the server requires TLS)" }, r.verdict.fixes)
	end)

	it("a server without dialback, under a dialback-only rule", function()
		local r = probe(a, "nodb.test", true)
		local c = answered(r)
		assert.is_false(c.before_tls.dialback)
		assert.is_false(c.after_tls.dialback)
		assert.is_true(c.after_tls.external)
		assert.is_nil(c.auth) -- SASL EXTERNAL is not allowed with it: not attempted
		assert.is_false(r.verdict.ok)
		assert.equal("the server does not offer dialback after TLS", method(r, "tls_dialback").why)
		assert.truthy(has(r.verdict.fixes, "ask the partner to enable dialback"))
	end)

	it("an unreachable domain (nothing listening)", function()
		local r, out = probe(a, "down.test")
		assert.equal(1, #r.facts.attempts)
		assert.is_nil(r.facts.attempts[1].connected)
		assert.equal("127.0.0.255", r.facts.attempts[1].address)
		assert.matches("connection refused", r.facts.attempts[1].error)
		assert.is_false(r.verdict.ok)
		assert.matches("^nothing answered %(connection failed: connection refused%)", r.verdict.fixes[1])
		assert.matches("connect 127.0.0.255:5269%s+failed", out)
	end)

	it("a partner whose pin does not match", function()
		local r = probe(a, "pin.trusted.test", true)
		local c = answered(r)
		assert.equal("mismatch", c.cert.pin)
		assert.is_false(r.verdict.ok)
		assert.is_nil(c.auth) -- the pin fails first: SASL EXTERNAL would be refused anyway
		local fix = has(r.verdict.fixes, "set pin = \"" .. c.cert.spki_sha256 .. "\"")
		assert.truthy(fix, json.encode(r.verdict.fixes))
	end)

	it("hostile peers end in a bounded time: garbage, a flood of features, a slow-loris", function()
		-- a flood ends at the parser's element limit or at the bound of bytes read, whichever first
		for domain, err in pairs{ ["garbage.test"] = "^invalid XML from the server",
			["huge.test"] = "stanza%-too%-large$|^the server sent more than %d+ bytes$",
			["slow.test"] = "^timeout waiting for the stream header$" } do
			local started = util.now()
			local r = probe(a, domain)
			assert.is_true(util.now() - started < 10, domain)
			local got = answered(r).error
			local one, other = err:match("^(.-)|(.*)$")
			assert.is_truthy(got:match(one or err) or (other and got:match(other)), domain .. ": " .. tostring(got))
			assert.is_false(r.verdict.ok)
		end
		assert.truthy(a:running())
	end)

	it("shows the last probe of each partner in the status", function()
		local out = a:shell('s2s_partners:status("a.test", "notls.test")')
		assert.matches("  last probe: %d%d%d%d%-%d%d%-%d%dT[%d:]+Z by prosodyctl shell: notls.test: no allowed method", out)
		local status = a:shell((">return require'util.json'.encode(require'core.modulemanager'.get_module('a.test', "
			.. "'s2s_partners').s2s_partners_status.report('trusted.test'))"))
		local report = assert(json.decode(status:match("Result: (%b{})")))
		assert.equal("sasl_tls", report.partners[1].last_probe.outgoing)
		assert.is_true(report.partners[1].last_probe.ok)
	end)

	describe("the ad-hoc command", function()
		local function run_probe(account, domain, authenticate)
			local first = assert(account:command{ to = "a.test", node = NS .. "probe", timeout = T })
			if first.status ~= "executing" then return first end
			return assert(account:command{ to = "a.test", node = NS .. "probe", sessionid = first.sessionid, action = "complete",
				fields = { { "domain", domain }, { "authenticate", authenticate and "1" or "0" } }, timeout = T })
		end

		it("reports like the shell, for admins only, at most 3 per admin per minute", function()
			local r = run_probe(alice, "x1.trusted.test", true)
			assert.equal("completed", r.status, r.xml)
			assert.matches("x1.trusted.test: outgoing streams can authenticate by SASL EXTERNAL over TLS", r.xml, 1, true)
			assert.matches("SASL EXTERNAL attempt", r.xml, 1, true)
			assert.equal("completed", run_probe(alice, "x2.trusted.test").status)
			assert.equal("completed", run_probe(alice, "x3.trusted.test").status)
			local refused = run_probe(alice, "x4.trusted.test")
			assert.matches("probe refused: alice@a.test already ran 3 probes in the last 60 s", refused.xml, 1, true)
			local forbidden = assert(mallory:command{ to = "a.test", node = NS .. "probe", timeout = T })
			assert.matches("forbidden", forbidden.xml, 1, true)
		end)
	end)
end)

describe("live probe of ejabberd #integration #ejabberd", function()
	local skip = not plugin_present and "plugin not built" or not ejabberd.available() and "ejabberd not installed"
	if skip then pending(skip) return end
	local env, a

	setup(function()
		env = harness.env()
		a = env:server{ host = "a.test", plugin = true, vhost_options = { s2s_partners = {
			{ domain = "e.test", type = "federated" } } } }
		ejabberd.new(env, { hosts = { "e.test" }, starttls = "required", dialback = true, cert = "trusted" })
		env:start()
	end)
	teardown(function() if env then env:cleanup() end end)

	it("ejabberd: STARTTLS required, SASL EXTERNAL offered and accepted, dialback offered", function()
		local r, out = probe(a, "e.test", true)
		local c = answered(r)
		assert.is_true(c.before_tls.starttls_required)
		assert.equal("valid", c.cert.chain)
		assert.is_true(c.cert.identity[1].ok)
		assert.is_true(c.after_tls.external)
		assert.is_true(c.after_tls.dialback)
		assert.equal("success", c.auth.sasl_external.outcome)
		assert.equal("sasl_tls", r.verdict.outgoing)
		assert.matches("verdict%s+e.test: outgoing streams can authenticate by SASL EXTERNAL over TLS", out)
	end)
end)
