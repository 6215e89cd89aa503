-- What a public_unverified stranger may send a user although the user never listed them: the
-- answers to the user's own stanzas (contacts.lib.lua). An error bounces something the user sent
-- that contact (RFC 6120 §8.3); an IQ result or error answers a request the user sent, matched
-- by id (RFC 6120 §8.2.3). Remembered per user and contact, bounded, so a user who writes to many
-- strangers costs a fixed amount of memory; the pairs not written to for longest are forgotten
-- first.
--
-- Every stanza a user sends such a contact passes here (README "Performance"), so the pairs are
-- kept in two generations of plain tables (a pair used again moves to the current one; when it
-- is full it becomes the old one, and the old one is dropped): at least the SIZE most recent
-- pairs are remembered, at most 2 × SIZE. And the stanza's own from and to, as written, lead to
-- their pair's entry without parsing them again (`seen`, emptied with each new generation).

local SIZE = 4096; -- user/contact pairs remembered, at least
local IDS = 16;    -- pending IQ ids per pair

return function (hot)
	local jid_parts = hot.jid;
	local current, old, n = {}, {}, 0; -- "user\0contact" -> { [iq id] = true, n = count }
	local seen, seen_n = {}, 0;        -- seen[from][to] = entry of the current generation

	local function key(username, contact) return username .. "\0" .. contact; end

	-- The entry of a pair, moved to the current generation; a new one when `create`.
	local function entry_of(k, create)
		local entry = current[k];
		if entry then return entry; end
		entry = old[k];
		if not entry then
			if not create then return nil; end
			entry = { n = 0 };
		end
		if n >= SIZE then current, old, n, seen, seen_n = {}, current, 0, {}, 0; end
		current[k], n = entry, n + 1;
		return entry;
	end

	-- The entry of the pair a stanza from local user `from` to `to` belongs to, or nil, when
	-- seen[from][to] does not have it yet.
	local function sender_entry(from, to)
		local f, t = jid_parts(from), jid_parts(to);
		if not (f and f.node and f.host == module.host and t) then return nil; end
		local entry = entry_of(key(f.node, t.bare), true);
		if seen_n >= SIZE then seen, seen_n = {}, 0; end
		local by_to = seen[from];
		if not by_to then by_to = {}; seen[from] = by_to; end
		by_to[to], seen_n = entry, seen_n + 1;
		return entry;
	end

	-- A local user's stanza leaving for a public_unverified domain, once the partner check let it
	-- (only what really leaves); never ends route/remote.
	hot.add_rule("outgoing", { "public_unverified" }, function (event)
		local stanza = event.stanza;
		local attr = stanza.attr;
		local from, to = attr.from, attr.to;
		local by_to = seen[from];
		local entry = by_to and by_to[to] or sender_entry(from, to);
		if not entry then return; end
		local t, id = attr.type, attr.id;
		if id and stanza.name == "iq" and (t == "get" or t == "set") and entry.n < IDS and not entry[id] then
			entry[id], entry.n = true, entry.n + 1;
		end
	end);

	local replies = {};

	--- Does `stanza` (from `contact`, a bare JID, to local user `username`) answer something the
	-- user sent that contact?
	function replies.answers(username, contact, stanza)
		local t = stanza.attr.type;
		if t ~= "error" and not (stanza.name == "iq" and t == "result") then return false; end
		local entry = entry_of(key(username, contact), false);
		if not entry then return false; end
		if stanza.name ~= "iq" then return true; end
		local id = stanza.attr.id;
		if not (id and entry[id]) then return false; end
		entry[id], entry.n = nil, entry.n - 1; -- one answer per request
		return true;
	end

	return replies;
end
