-- What a public_unverified stranger may send a user although the user never listed them: the
-- answers to the user's own stanzas (contacts.lib.lua). An error bounces something the user sent
-- that contact (RFC 6120 §8.3); an IQ result or error answers a request the user sent, matched
-- by id (RFC 6120 §8.2.3). Remembered per user and contact in a bounded LRU, so a user who writes
-- to many strangers costs a fixed amount of memory; the oldest entries are forgotten first.

local jid_bare, jid_split = require "util.jid".bare, require "util.jid".split;
local new_cache = require "util.cache".new;

local SIZE = 4096; -- user/contact pairs remembered
local IDS = 16;    -- pending IQ ids per pair

return function (policy)
	local sent = new_cache(SIZE); -- "user\0contact" -> { [iq id] = true, n = count }

	local function key(username, contact) return username .. "\0" .. contact; end

	-- A local user's stanza leaving for a public_unverified domain.
	module:hook("route/remote", function (event)
		if not policy.types.public_unverified then return; end -- no partner of that type
		local stanza = event.stanza;
		local partner = policy.resolve(event.to_host);
		if not partner or partner.type ~= "public_unverified" then return; end
		local username, host = jid_split(stanza.attr.from);
		if not username or host ~= module.host then return; end
		local k = key(username, jid_bare(stanza.attr.to));
		local entry = sent:get(k) or { n = 0 };
		local t = stanza.attr.type;
		if stanza.name == "iq" and (t == "get" or t == "set") and stanza.attr.id and entry.n < IDS then
			if not entry[stanza.attr.id] then entry[stanza.attr.id], entry.n = true, entry.n + 1; end
		end
		sent:set(k, entry);
	end, 950); -- after the partner check (1000): only what really leaves

	local replies = {};

	--- Does `stanza` (from a contact to local user `username`) answer something the user sent it?
	function replies.answers(username, stanza)
		local t = stanza.attr.type;
		if t ~= "error" and not (stanza.name == "iq" and t == "result") then return false; end
		local k = key(username, jid_bare(stanza.attr.from));
		local entry = sent:get(k);
		if not entry then return false; end
		if stanza.name ~= "iq" then return true; end
		local id = stanza.attr.id;
		if not (id and entry[id]) then return false; end
		entry[id], entry.n = nil, entry.n - 1; -- one answer per request
		return true;
	end

	return replies;
end
