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
	local incoming = hot.incoming;
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

	-- Senders already let through, per stream: passed[session] = { [from] = partner }, counted in
	-- counts[session]. The verdict on a sender depends only on its stream's records
	-- (sessions.lib.lua) and on the policy, so a stream's list is forgotten when a record is made
	-- on it, and every list when the policy changes; at most PASSED_MAX senders per stream (the
	-- remote server chooses them), then its list starts again.
	local PASSED_MAX = 256;
	local function weak() return setmetatable({}, { __mode = "k" }); end
	local passed, counts = weak(), weak();
	policy.on_change(function () passed, counts = weak(), weak(); end);
	sessions.on_record(function (session) passed[session] = nil; end);

	-- The sender's partner, for the partner type's rules; none (false) for a local host's domain,
	-- to which they do not apply.
	local function pass(origin, from, domain, partner)
		local list = passed[origin];
		if not list or counts[origin] >= PASSED_MAX then
			list = {};
			passed[origin], counts[origin] = list, 0;
		end
		if hosts[domain] then partner = false; end
		list[from], counts[origin] = partner, counts[origin] + 1;
		return partner;
	end

	--- The partner of a stanza event's sender, as this guard let it through (nil: not from a
	-- remote domain over s2s, or not let through), for the hooks after it (contacts.lib.lua).
	function hot.sender_partner(event)
		local list = passed[event.origin];
		return list and list[event.stanza.attr.from] or nil;
	end

	-- A sender not yet let through on this stream: its partner, checked and remembered (false for
	-- a local host's domain); nil for a local session or our own bounce; nil and the refusal's
	-- result when it may not pass.
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
		local from = stanza.attr.from;
		local list = passed[origin]; -- only s2s streams (not bounces) that passed have one
		local partner = list and list[from];
		if not partner or origin.destroyed then
			local refused;
			partner, refused = admit(origin, stanza, from);
			if not partner then return refused; end
		end
		local by_name = incoming[partner.type]; -- the partner type's (contacts)
		local rules = by_name and by_name[stanza.name];
		if rules then return rules(event, partner); end
	end

	for _, kind in ipairs({ "message", "presence", "iq" }) do
		for _, to in ipairs({ "bare", "full", "host" }) do
			module:hook(kind .. "/" .. to, guard, 2000); -- above every delivery; calls the contact rules
		end
	end
end
