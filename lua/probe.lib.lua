-- The live probe (README "Probe"): an admin tests a partner's XMPP server now, from this host,
-- the way this Prosody would connect to it, and gets the facts (probetargets.lib.lua: where;
-- probestream.lib.lua: one connection; probecert.lib.lua: the certificate) and a verdict against
-- the partner's rule (verdict.lib.lua). Bounded: each step STEP_TIMEOUT, the whole probe
-- TOTAL_TIMEOUT; rate-limited (probelimit.lib.lua); only partner domains (or the default
-- policy's), never this server's own hosts, and only the addresses their resolution gives.
-- The last probe of each partner is kept (one per partner, dropped with it) for the status.

local certmanager = require "core.certmanager";
local rawgetopt = require "core.configmanager".rawget;

local STEP_TIMEOUT = 3;
local TOTAL_TIMEOUT = 8;

return function (core, policy, explain, status, compat)
	local host = module.host;
	local req = compat.require;
	local timer, promise, now, async = req("util.timer"), req("util.promise"), req("util.time").now, req("util.async");
	local certificate_facts = module:require("probecert")(core);
	local verdict_of = module:require("verdict")(core);
	local limiter = module:require("probelimit").new();
	local resolve = module:require("probetargets"){
		adns = req("net.adns"), basic = req("net.resolvers.basic"), add_task = timer.add_task,
		extra = { use_ipv4 = module:get_option_boolean("use_ipv4", true), use_ipv6 = module:get_option_boolean("use_ipv6", true) },
	};
	local stream = module:require("probestream"){
		server = req("net.server"), xmppstream = req("util.xmppstream"), base64 = req("util.encodings").base64.encode,
		add_task = timer.add_task, now = now,
	};
	local probe = {};
	local last = {}; -- [partner domain or "default"] = { time, by, domain, summary, ok, outgoing, facts, verdict }

	local function key_of(partner) return partner.default and "default" or partner.domain; end

	-- The context mod_tls makes for outgoing s2s (this host's certificate, its trust store), asking
	-- for the peer's certificate and continuing past verification errors so they can be reported.
	local function tls_context()
		local NULL = {};
		local parent = host:match("%.(.*)$");
		local host_ssl = rawgetopt(host, "ssl") or rawgetopt(parent, "ssl") or NULL;
		local host_s2s = rawgetopt(host, "s2s_ssl") or rawgetopt(parent, "s2s_ssl") or NULL;
		return certmanager.create_context(host, "client", host_s2s, host_ssl, rawgetopt("*", "s2s_ssl") or NULL,
			{ verify = { "peer", "client_once" }, verifyext = { "lsec_continue", "lsec_ignore_purpose" } },
			{ alpn = "xmpp-server" });
	end

	-- Reads the certificate facts of a TLS socket, for `domain` and the partner's other domains.
	local function certificate_reader(partner, domain)
		local domains = { domain };
		for _, d in ipairs(partner.default and {} or { partner.domain, table.unpack(partner.additional_domains or {}) }) do
			if d ~= domain then domains[#domains + 1] = d; end
		end
		return function (sock)
			local cert = sock and sock.getpeercertificate and sock:getpeercertificate();
			if not cert then return nil, "the server presented no certificate"; end
			local ok, pem = pcall(cert.pem, cert);
			if not ok then return nil, "could not read the certificate"; end
			local chain_ok, errors = sock:getpeerverification();
			return certificate_facts(pem, chain_ok, errors, domains, partner.pin, os.time());
		end;
	end

	-- Try the resolved addresses in order until one connects (as net.connect does).
	local function run(partner, facts, opts, done)
		local deadline = now() + TOTAL_TIMEOUT;
		local ctx, ctx_err = tls_context();
		if not ctx then facts.notes[#facts.notes + 1] = "this host has no TLS context (" .. tostring(ctx_err) .. "): STARTTLS not attempted"; end
		local read_cert = certificate_reader(partner, facts.domain);
		-- As this host would: only where the rule allows it, never past a pin that does not match.
		local function try_external(attempt)
			return policy.allows(partner, "sasl_tls") and not (attempt.cert and attempt.cert.pin == "mismatch");
		end
		local allowed = {};
		local finished, abort = false, nil;
		local function finish(err)
			if finished then return; end
			finished = true;
			if err and not facts.error then facts.error = err; end
			done();
		end
		timer.add_task(TOTAL_TIMEOUT, function ()
			if finished then return; end
			if abort then abort("the probe's bound of " .. TOTAL_TIMEOUT .. " s was reached"); end
			finish("the probe's bound of " .. TOTAL_TIMEOUT .. " s was reached");
		end);
		resolve(facts.domain, opts.connect, ctx ~= nil, STEP_TIMEOUT, function (resolution)
			if finished then return; end
			facts.resolution = resolution;
			local queue = {};
			for _, target in ipairs(resolution.targets) do
				for _, a in ipairs(target.addresses or {}) do
					queue[#queue + 1] = { target = target, address = a };
					allowed[a.ip] = true;
				end
			end
			local function next_address()
				if finished then return; end
				local item = table.remove(queue, 1);
				if not item then return finish(resolution.error or (#facts.attempts == 0 and "no address to connect to" or nil)); end
				local remaining = deadline - now();
				assert(allowed[item.address.ip], "probe address outside the domain's resolution"); -- by construction
				abort = stream({ address = item.address.ip, port = item.target.port, conn_type = item.address.conn_type,
					direct_tls = item.target.direct_tls, host = host, domain = facts.domain, ssl_ctx = ctx,
					authenticate = opts.authenticate, try_external = try_external,
					step_timeout = math.max(0.5, math.min(STEP_TIMEOUT, remaining)), certificate = read_cert,
				}, function (attempt)
					abort = nil;
					attempt.service, attempt.target = item.target.service, item.target.host;
					facts.attempts[#facts.attempts + 1] = attempt;
					if attempt.connected then return finish(); end
					next_address();
				end);
			end
			next_address();
		end);
	end

	--- probe.start(domain, { actor, admin, authenticate }) -> promise of { facts, verdict, summary },
	-- or nil, why it is refused (not a partner, a local host, rate limit). `actor`: who, as shown;
	-- `admin`: the JID the per-admin limit counts (none from the shell).
	function probe.start(domain, opts)
		opts = opts or {};
		if type(domain) ~= "string" then return nil, "expected a domain"; end
		local name, err = core.normalize(domain);
		if not name then return nil, "not a valid domain name: " .. tostring(err); end
		if prosody.hosts[name] then return nil, ("%s is a host of this server: nothing to probe"):format(name); end
		local partner, why = policy.resolve(name);
		if not partner then return nil, tostring(why) .. ": the probe checks a partner's server against its rule"; end
		local actor = opts.actor or "admin";
		local ok, refused = limiter:take(opts.admin, name, now());
		if not ok then return nil, refused; end
		local facts = { domain = name, host = host, time = os.time(), authenticate = opts.authenticate == true,
			attempts = {}, notes = {} };
		local connect;
		if partner.connect then
			if compat.is_13() then
				connect = { host = partner.connect_host, port = partner.connect_port };
			else
				facts.notes[#facts.notes + 1] = "connect = " .. partner.connect .. " needs Prosody 13: DNS is used, as this Prosody does";
			end
		end
		local started = now();
		return promise.new(function (resolve_promise)
			run(partner, facts, { connect = connect, authenticate = opts.authenticate == true }, function ()
				limiter:done();
				facts.ms = math.floor((now() - started) * 1000 + 0.5);
				local verdict = verdict_of(partner, facts, explain(name));
				local result = { facts = facts, verdict = verdict, summary = verdict.summary, partner = partner };
				last[key_of(partner)] = { time = facts.time, by = actor, domain = name, ok = verdict.ok,
					outgoing = verdict.outgoing, summary = verdict.summary, facts = facts, verdict = verdict };
				module:log("info", "Probe of %s by %s: %s", name, actor, verdict.summary);
				resolve_promise(result);
			end);
		end);
	end

	--- Start a probe and wait for it (inside one of Prosody's async runners: the shell's, a
	-- client stanza's): the result, or nil and why it was refused.
	function probe.now(domain, opts)
		if not async.ready() then return nil, "the probe can only be run from the shell or an ad-hoc command"; end
		local started, err = probe.start(domain, opts);
		if not started then return nil, err; end
		return async.wait_for(started);
	end

	--- The last probe kept for the partner owning `domain` (or for the default policy).
	function probe.last(domain)
		local partner = type(domain) == "string" and policy.resolve(domain);
		return partner and last[key_of(partner)] or nil;
	end

	policy.on_change(function (compiled) -- O(probes kept), whatever the size of the list
		for k in pairs(last) do
			local keep = (k == "default" and compiled:default() ~= nil) or policy.is_primary(compiled, k);
			if not keep then last[k] = nil; end
		end
	end);

	-- README "Status": each partner entry carries the summary of its last probe.
	status.last_probe = function (entry)
		local kept = last[entry.default and "default" or entry.domain];
		return kept and { time = kept.time, by = kept.by, domain = kept.domain, ok = kept.ok, outgoing = kept.outgoing,
			summary = kept.summary } or nil;
	end;

	return probe;
end
