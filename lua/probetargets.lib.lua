-- Where the probe connects (README "Probe"), as this Prosody's mod_s2s would: the partner's
-- `connect` on Prosody 13, else the SRV records `_xmpps-server._tcp` (direct TLS, XEP-0368) and
-- `_xmpp-server._tcp` (RFC 6120 §3.2.1) by priority, else the domain on port 5269; each target's
-- addresses through Prosody's own resolvers (net.adns, net.resolvers.basic). The probe only
-- ever connects to the addresses found here.

local MAX_TARGETS = 4;   -- SRV targets (or the fallback) tried
local MAX_ADDRESSES = 4; -- addresses per target
local DEFAULT_PORT = 5269;

local function cut(text) return text and (tostring(text):gsub("%c", " "):sub(1, 200)); end

-- deps: { adns = net.adns, basic = net.resolvers.basic, add_task, extra = { use_ipv4, use_ipv6 } }
return function (deps)
	-- SRV records of `qname` → { records = { { target, port, priority } }, unavailable, error }.
	local function srv(qname, done)
		deps.adns.resolver():lookup(function (answer, err)
			local out = { name = qname, records = {} };
			if answer then
				for _, r in ipairs(answer) do
					if r.srv then out.records[#out.records + 1] = { target = cut(r.srv.target), port = r.srv.port, priority = r.srv.priority }; end
				end
				table.sort(out.records, function (a, b) return a.priority < b.priority; end);
				if #out.records == 1 and out.records[1].target == "." then out.records, out.unavailable = {}, true; end
				out.status = answer.status;
			else
				out.error = cut(err);
			end
			done(out);
		end, qname, "SRV", "IN");
	end

	-- Every address of one target, through net.resolvers.basic (A, then AAAA, as configured).
	local function addresses(target, done)
		local resolver = deps.basic.new(target.host, target.port, "tcp", deps.extra);
		target.addresses = {};
		local function step(conn_type, ip)
			if conn_type and #target.addresses < MAX_ADDRESSES then
				target.addresses[#target.addresses + 1] = { conn_type = conn_type, ip = ip };
				return resolver:next(step);
			end
			if #target.addresses == 0 then target.error = cut(resolver.last_error or "no address found"); end
			done();
		end
		resolver:next(step);
	end

	local function resolve_all(result, done)
		local pending = #result.targets + 1;
		local function one() pending = pending - 1; if pending == 0 then done(result); end end
		for _, target in ipairs(result.targets) do addresses(target, one); end
		one();
	end

	local function add_records(result, lookup, service, direct_tls)
		for _, r in ipairs(lookup.records) do
			if #result.targets < MAX_TARGETS then
				result.targets[#result.targets + 1] = { service = service, host = r.target, port = r.port, direct_tls = direct_tls };
			end
		end
	end

	--- resolve(domain, partner_connect, with_tls, timeout, done(result)): result = { srv = { lookups },
	-- targets = { { service, host, port, direct_tls, addresses = { { conn_type, ip } }, error } },
	-- error }. `partner_connect`: { host, port } or nil. done is called once, within `timeout`.
	return function (domain, partner_connect, with_tls, timeout, done)
		local finished = false;
		local function finish(result)
			if finished then return; end
			finished = true;
			done(result);
		end
		local result = { srv = {}, targets = {} };
		deps.add_task(timeout, function ()
			result.error = result.error or "timeout resolving " .. domain;
			finish(result);
		end);
		if partner_connect then
			result.targets[1] = { service = "connect", host = partner_connect.host, port = partner_connect.port or DEFAULT_PORT };
			return resolve_all(result, finish);
		end
		local pending, lookups = with_tls and 2 or 1, {};
		local function ready()
			pending = pending - 1;
			if pending > 0 then return; end
			local xmpps, xmpp = lookups["xmpps-server"], lookups["xmpp-server"];
			if xmpps then add_records(result, xmpps, "xmpps-server", true); end
			add_records(result, xmpp, "xmpp-server", false);
			if #xmpp.records == 0 and not xmpp.unavailable and #result.targets < MAX_TARGETS then
				result.targets[#result.targets + 1] = { service = "default port", host = domain, port = DEFAULT_PORT };
			end
			if xmpp.unavailable and #result.targets == 0 then result.error = "service explicitly unavailable (SRV target \".\")"; end
			resolve_all(result, finish);
		end
		for _, service in ipairs(with_tls and { "xmpps-server", "xmpp-server" } or { "xmpp-server" }) do
			srv(("_%s._tcp.%s"):format(service, domain), function (lookup)
				lookup.service = service;
				lookups[service] = lookup;
				result.srv[#result.srv + 1] = lookup;
				ready();
			end);
		end
	end;
end
