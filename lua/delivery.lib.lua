-- Stanzas from other servers reach this host (its users, and the host itself) only from a domain
-- that authenticated on that very stream under this host's policy (README "Security model").
--
-- Prosody's router accepts a stanza from an s2s stream when its sender's domain authenticated on
-- the stream for *any* local host and its destination is *any* local host. A component or a
-- VirtualHost without this module authenticates by its own rules (dialback, SASL EXTERNAL, bidi),
-- and this host's s2s-authenticated check never sees it. So the rule is enforced again where
-- stanzas are delivered: above every delivery, offline storage, archiving or reply, a stanza is
-- dropped unless sessions.lib.lua has this host's record for its domain on its stream, and the
-- policy in force still allows the method recorded. Drops are silent to the sender (an answer
-- would tell which accounts exist), logged (once per stream and domain at info) and counted.

local jid_host = require "util.jid".host;

local hosts = prosody.hosts;

return function (policy, metrics, sessions, hot)
	local logged = setmetatable({}, { __mode = "k" }); -- session -> { [domain] = true }

	local function refuse(origin, stanza, domain, reason, text)
		metrics.delivery_refused(stanza.name, reason);
		local seen = logged[origin];
		if not seen then seen = {}; logged[origin] = seen; end
		local level = seen[domain or ""] and "debug" or "info";
		seen[domain or ""] = true;
		local partner = domain and policy.resolve(domain);
		(origin.log or module._log)(level, "Refused %s from %s to %s on an %s stream: %s [partner %s, %s]", stanza.name,
			tostring(stanza.attr.from), tostring(stanza.attr.to), origin.direction or "s2s", text,
			partner and (partner.domain or "default policy") or "none", reason);
		return true;
	end

	-- Senders already let through, per stream: passed[session] = { [from] = entry }, counted in
	-- counts[session], each entry hot.entry's for the sender's partner (its type's rules; none
	-- for a local host's domain, to which they do not apply) with the sender's bare JID as
	-- `contact`. The verdict on a sender depends only on its stream's records (sessions.lib.lua)
	-- and on the policy, so a stream's list is forgotten when a record is made on it or the
	-- stream is destroyed, and every list when the policy changes; at most PASSED_MAX senders per
	-- stream (the remote server chooses them), then its list starts again.
	local PASSED_MAX = 256;
	local function weak() return setmetatable({}, { __mode = "k" }); end
	local passed, counts = weak(), weak();
	local function forget(session) passed[session], counts[session] = nil, nil; end
	policy.on_change(function () passed, counts = weak(), weak(); end);
	sessions.on_record(forget);
	-- Before Prosody retires the session (s2smanager): a retired one has type "s2s_destroyed",
	-- which the router never posts to the stanza events below, and no list here.
	module:hook_global("s2s-destroyed", function (event) forget(event.session); end);

	local function pass(origin, from, domain, partner)
		local list = passed[origin];
		if not list or counts[origin] >= PASSED_MAX then
			list = {};
			passed[origin], counts[origin] = list, 0;
		end
		local entry = hot.entry("incoming", not hosts[domain] and partner or nil);
		local parts = hot.jid(from);
		entry.contact = parts and parts.bare; -- as the contact rules' slow path has it (contacts.lib.lua)
		list[from], counts[origin] = entry, counts[origin] + 1;
		return entry;
	end

	--- The partner of a stanza event's sender, as this guard let it through (nil: not from a
	-- remote domain over s2s, or not let through), for the hooks after it (contacts.lib.lua).
	function hot.sender_partner(event)
		local list = passed[event.origin];
		local entry = list and list[event.stanza.attr.from];
		return entry and entry.partner or nil;
	end

	-- A sender not yet let through on this stream: its entry, checked and remembered; nil for a
	-- local session or our own bounce; nil and the refusal's result when it may not pass.
	local function admit(origin, stanza, from)
		local t = origin.type;
		if (t ~= "s2sin" and t ~= "s2sout") or origin.dummy then return nil; end -- local, or our own bounce
		local domain = jid_host(from);
		local method = domain and sessions.method(origin, domain);
		if not method then
			return nil, refuse(origin, stanza, domain, "not_authenticated_here", ("%s did not authenticate under "
				.. "the partner policy of %s on this stream"):format(tostring(domain), module.host));
		end
		local partner, why = policy.resolve(domain);
		if not partner then return nil, refuse(origin, stanza, domain, "not_partner", why); end
		if not policy.allows(partner, method) then
			return nil, refuse(origin, stanza, domain, "policy_changed",
				("the partner settings of %s no longer allow %s"):format(domain, method));
		end
		return pass(origin, from, domain, partner);
	end

	local function guard(event)
		local origin, stanza = event.origin, event.stanza;
		local list = passed[origin]; -- only s2s streams (not bounces) that passed have one
		local sender = list and list[stanza.attr.from];
		if not sender then
			local refused;
			sender, refused = admit(origin, stanza, stanza.attr.from);
			if not sender then return refused; end
		end
		local name = stanza.name;
		local rule = sender[name]; -- the partner type's (contacts)
		if rule then
			local ret = rule(event, sender);
			if ret ~= nil then return ret; end
		end
		-- a subscription request from a partner whose requests are approved (hot.entry)
		if name == "presence" and sender.subscribe and stanza.attr.type == "subscribe" then
			return sender.subscribe(event, sender);
		end
	end
	hot.delivery_guard = guard;

	for _, kind in ipairs({ "message", "presence", "iq" }) do
		for _, to in ipairs({ "bare", "full", "host" }) do
			module:hook(kind .. "/" .. to, guard, 2000); -- above every delivery; calls the contact rules
		end
	end
end
