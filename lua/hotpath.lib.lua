-- What the per-stanza hooks share (README "Performance"): one instance per host, made by
-- mod_s2s_partners.lua and handed to the libraries whose hooks run for every stanza.
--
--   hot.sender_partner(ev)   the partner of what arrived over s2s (set by delivery.lib.lua)
--   hot.outgoing / incoming  a partner type's rules, called by the module's own guards
--   hot.add_rule(...)        adds one
--   hot.entry(dir, partner)  what a guard keeps for a peer of that partner: it and its rules
--   hot.route_check          the partner check of route/remote (set by streams.lib.lua)
--   hot.delivery_guard       the delivery guard of stanzas from s2s (set by delivery.lib.lua)
--   hot.approver             what handles a subscription request from a partner it approves
--                            (set by contacts.lib.lua), as hot.entry puts it in an entry
--   hot.rest(name, h, ev)    the handlers of event `name` after handler h, called for ev
--   hot.jid(jid)             util.jid.split's parts, remembered

local jid_split = require "util.jid".split;

local JIDS = 4096; -- JIDs hot.jid remembers in each of its two generations

return function ()
	local hot = {};

	-- A partner type's rules, called with (event, entry) by the guard that resolved the partner
	-- (`entry`: what the guard keeps for that peer, hot.entry; entry.partner is the partner), so
	-- that a rule costs no event handler and no second lookup of its own:
	--   outgoing[type][name]  by the partner check of route/remote (streams.lib.lua,
	--                         hot.route_check), for a stanza named `name` leaving for a partner
	--                         of that type; what it returns ends route/remote with it (nil: on to
	--                         the handlers after the check, mod_s2s's)
	--   incoming[type][name]  by the delivery guard (delivery.lib.lua) for what arrived from such
	--                         a partner and passed it; true drops the stanza
	-- A type with no rules has no entry, nor has a stanza name none of its rules is for.
	hot.outgoing, hot.incoming = {}, {};

	local STANZAS = { "message", "presence", "iq" };

	--- Add `rule` to the `direction` ("outgoing" or "incoming") rules of each of `types` for the
	-- stanzas named in `names` (default: all three), after those already there: it runs when they
	-- return nil.
	function hot.add_rule(direction, types, rule, names)
		local rules = hot[direction];
		for _, t in ipairs(types) do
			local by_name = rules[t] or {};
			rules[t] = by_name;
			for _, name in ipairs(names or STANZAS) do
				local before = by_name[name];
				by_name[name] = before and function (event, entry)
					local ret = before(event, entry);
					if ret ~= nil then return ret; end
					return rule(event, entry);
				end or rule;
			end
		end
	end

	--- A new table for what a guard keeps about one peer (a sender, a destination) of `partner`:
	-- { partner = partner, [stanza name] = the `direction` rule of its type for that stanza }, so
	-- that a stanza finds its rule in the table its guard looked up anyway (README "Performance":
	-- a federated partner's stanza pays one lookup of a field it does not have). The rules are
	-- all added when the module loads, before any guard keeps anything.
	-- An incoming entry also has `subscribe`, hot.approver's handler, when it applies to the
	-- partner: the delivery guard calls it for presence of type subscribe only, so that what
	-- approves a request costs nothing on other stanzas.
	function hot.entry(direction, partner)
		local entry = { partner = partner };
		for name, rule in pairs(partner and hot[direction][partner.type] or {}) do entry[name] = rule; end
		local approver = hot.approver;
		if partner and direction == "incoming" and approver and approver.applies(partner) then
			entry.subscribe = approver.handler;
		end
		return entry;
	end

	--- The handlers of the host's event `name` after `handler` (util.events' sorted list), called
	-- for `event` as util.events goes on to them: the first to return something ends it, and
	-- that is returned. No handler before `handler`, nor it, runs again.
	local host_events = prosody.hosts[module.host].events;
	function hot.rest(name, handler, event)
		local handlers, after = host_events.get_handlers(name) or {}, false;
		for i = 1, #handlers do
			local h = handlers[i];
			if after then
				local ret = h(event);
				if ret ~= nil then return ret; end
			elseif h == handler then
				after = true;
			end
		end
	end

	--- The parts of `jid` (util.jid.split's, remembered): { node =, host =, bare = }, or nil for
	-- what is not a JID. A stanza's from and to repeat from one stanza to the next; at most
	-- 2 × JIDS are kept (two generations: when the current one is full, it becomes the old one).
	local current, old, n = {}, {}, 0;
	function hot.jid(jid)
		local parts = current[jid];
		if parts then return parts; end
		if jid == nil then return nil; end
		parts = old[jid];
		if not parts then
			local node, host = jid_split(jid);
			if not host then return nil; end
			parts = { node = node, host = host, bare = node and node .. "@" .. host or host };
		end
		if n >= JIDS then current, old, n = {}, current, 0; end
		current[jid], n = parts, n + 1;
		return parts;
	end

	return hot;
end
