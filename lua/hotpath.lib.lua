-- What the per-stanza hooks share (README "Performance"): one instance per host, made by
-- mod_s2s_partners.lua and handed to the libraries whose hooks run for every stanza.
--
--   hot.PARTNER              event field: the partner of what arrived over s2s (delivery guard)
--   hot.note / hot.partner   the partner of what leaves (route/remote), without touching the event
--   hot.jid(jid)             util.jid.split's parts, remembered
--   hot.hook_while(...)      a hook that is there only while the policy has a given partner type

local jid_split = require "util.jid".split;

local JIDS = 4096; -- JIDs hot.jid remembers in each of its two generations

return function (policy)
	local hot = {
		-- The event field holding the partner record of an incoming stanza's remote domain, set
		-- by the delivery guard (delivery.lib.lua) when it lets the stanza through and read by
		-- the contact rules after it (contacts.lib.lua). (A stanza event from Prosody's router has
		-- room for it; route/remote's has not, hence note/partner below.)
		PARTNER = "s2s_partners.partner";
	};

	-- The partner check of route/remote (streams.lib.lua) notes which partner it found for which
	-- event; the hooks after it on the same event take it from here. Another event in between
	-- (a stanza sent by a hook in between) replaces the note: they resolve the domain again then.
	local noted_event, noted_partner;
	function hot.note(event, partner) noted_event, noted_partner = event, partner; end
	function hot.partner(event)
		if event == noted_event then return noted_partner; end
		return (policy.resolve(event.to_host));
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

	--- Hook `handler` on `event` at `priority` only while a partner (or the default) has one of
	-- `types` (a list): a rule of public partners costs nothing per stanza where there are none.
	function hot.hook_while(types, event, handler, priority)
		local hooked = false;
		local function update()
			local present = false;
			for _, t in ipairs(types) do present = present or (policy.types or {})[t] == true; end
			if present and not hooked then
				module:hook(event, handler, priority);
			elseif hooked and not present then
				module:unhook(event, handler);
			end
			hooked = present;
		end
		policy.on_change(update);
		update();
	end

	return hot;
end
