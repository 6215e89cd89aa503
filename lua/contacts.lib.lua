-- Partner types: what a partner's users may do with local users (README "Partner types").
--
--                         federated            public_verified      public_unverified
--   subscription request  approved (auto)      approved (auto)      only if already in roster
--   messages / IQs        yes                  yes                  only if in roster
--   status note           seen                 stripped             stripped
--
-- Drops are silent to the sender (no enumeration of local accounts), logged at debug, counted.

local st = require "util.stanza";
local rostermanager = require "core.rostermanager";
local sessionmanager = require "core.sessionmanager";
local usermanager = require "core.usermanager";

local bare_sessions = prosody.bare_sessions;

return function (metrics, replies, hot)
	local jid_parts = hot.jid;

	local function drop(partner, kind, stanza)
		module:log("debug", "Dropping %s from %s (%s partner %s) to %s: not in the user's roster", kind,
			stanza.attr.from, partner.type, partner.domain or "default", stanza.attr.to);
		metrics.dropped(partner.type, kind);
		return true;
	end

	-- What the rule below does when the recipient is not an online user addressed by bare JID
	-- whose session holds the sender in its roster: parse the JIDs, load the roster.
	local function stranger_check(event, partner)
		local stanza = event.stanza;
		local attr = stanza.attr;
		local to, from = jid_parts(attr.to), jid_parts(attr.from);
		local username = to and to.node;
		if not (username and from) then return; end
		local contact = from.bare;
		-- In the user's roster: an online user's is on the session (what load_roster returns first).
		local session = bare_sessions[to.bare];
		local roster = session and session.roster or rostermanager.load_roster(username, module.host);
		if roster and roster[contact] ~= nil or replies.answers(username, contact, stanza) then return; end
		local subscribe = stanza.name == "presence" and attr.type == "subscribe";
		return drop(partner, subscribe and "subscribe" or stanza.name, stanza);
	end

	-- public_unverified: nothing from a stranger (a contact not in the user's roster) reaches the
	-- user: no presence of any type, no message of any type, no IQ request. What passes is what
	-- answers the user's own stanzas (replies.lib.lua): errors bouncing what the user sent that
	-- contact, and IQ results or errors to the user's own requests.
	-- Called by the delivery guard (2000) for what it let through from such a partner: before
	-- blocklist (100), mod_presence (0), delivery, archiving (mod_mam) and offline storage.
	-- Stanzas to the host itself (no user) are not a user's contacts and pass.
	hot.add_rule("incoming", { "public_unverified" }, function (event, sender)
		-- The router writes `to` prepared (core.stanza_router): a bare JID is the key of its
		-- user's bare session; the delivery guard keeps the sender's bare JID (`contact`).
		local user = bare_sessions[event.stanza.attr.to];
		local roster = user and user.roster;
		if roster and roster[sender.contact] ~= nil then return; end
		return stranger_check(event, sender.partner);
	end);

	-- Tell the new subscriber what the user's resources are doing (as mod_presence does).
	local function send_current_presence(username, contact)
		local user = bare_sessions[username .. "@" .. module.host];
		local sent = 0;
		for _, session in pairs(user and user.sessions or {}) do
			if session.presence then
				local presence = st.clone(session.presence);
				presence.attr.from, presence.attr.to = session.full_jid, contact;
				module:send(presence);
				sent = sent + 1;
			end
		end
		if sent == 0 then
			module:send(st.presence({ from = username .. "@" .. module.host, to = contact, type = "unavailable" }));
		end
	end

	-- Approve a partner contact's subscription on the user's behalf, as if the user had answered
	-- "subscribed" (mod_presence's outbound path): roster push, <subscribed/>, current presence.
	-- Returns nil when it cannot, and mod_presence then asks the user as usual.
	local function approve(username, contact, stanza)
		local host = module.host;
		if not usermanager.user_exists(username, host) then
			return; -- no roster to change: mod_presence answers as for any unknown account
		end
		local user = username .. "@" .. host;
		-- Between bare JIDs, as mod_presence stores and forwards requests (this one may have
		-- been addressed to a full JID); a copy, the event's stanza stays as it came.
		local request = st.clone(stanza);
		request.attr.from, request.attr.to = contact, user;
		if not rostermanager.is_contact_pending_in(username, host, contact)
		and not rostermanager.set_contact_pending_in(username, host, contact, request) then
			return;
		end
		if not rostermanager.subscribed(username, host, contact) then
			-- Could not save: leave the request pending and let the user decide.
			module:log("warn", "Could not approve %s's subscription to %s automatically; asking the user", contact, user);
			sessionmanager.send_to_available_resources(username, host, request);
			return true;
		end
		rostermanager.roster_push(username, host, contact);
		module:send(st.presence({ from = user, to = contact, type = "subscribed" }));
		send_current_presence(username, contact);
		module:log("debug", "Approved %s's subscription to %s without asking (partner policy)", contact, user);
		return true;
	end

	-- Subscription requests, to the bare or (mod_presence handles those too) a full JID.
	local function subscription_request(event)
		-- the delivery guard (delivery.lib.lua, above these hooks) resolved it under the policy in
		-- force when it let the stanza through; a local session's stanza, or a bounce, has none
		local partner = hot.sender_partner(event);
		if not partner then return; end
		local stanza = event.stanza;
		local to, from = jid_parts(stanza.attr.to), jid_parts(stanza.attr.from);
		local username = to and to.node;
		if not (username and from) then return; end
		return partner, username, from.bare;
	end

	-- federated / public_verified with auto_approve: approve without asking. After mod_blocklist
	-- (100), so a blocked contact is never approved, and before mod_presence (0).
	local function applies(partner) return partner.auto_approve and partner.type ~= "public_unverified"; end
	local function auto_approve(event)
		if event.stanza.attr.type ~= "subscribe" then return; end
		local partner, username, contact = subscription_request(event);
		if not partner or not applies(partner) then return; end
		if rostermanager.is_contact_subscribed(username, module.host, contact) then
			return; -- already approved: mod_presence confirms and sends presence
		end
		return approve(username, contact, event.stanza);
	end

	-- auto_approve is a handler of presence/bare and presence/full (priority 10) only while a
	-- request from a partner it applies to goes down that chain: the delivery guard (2000) calls
	-- this for such a request (hot.entry), which hooks it, runs the rest of the chain after the
	-- guard (util.events sorts it among the others by priority), and unhooks it once no such
	-- request is in the chain (a handler may wait for storage meanwhile). Every other presence
	-- goes down a chain without it (README "Performance"). A request to the host itself is
	-- mod_presence's alone.
	local in_chain = {}; -- event name -> requests from such partners in its chain now
	hot.approver = { applies = applies, handler = function (event)
		local to = event.stanza.attr.to;
		local parts = jid_parts(to);
		if not (parts and parts.node) then return; end
		local name = to == parts.bare and "presence/bare" or "presence/full"; -- as the router named it
		local n = in_chain[name] or 0;
		if n == 0 then module:hook(name, auto_approve, 10); end
		in_chain[name] = n + 1;
		local ok, ret = pcall(hot.rest, name, hot.delivery_guard, event);
		in_chain[name] = in_chain[name] - 1;
		if in_chain[name] == 0 then module:unhook(name, auto_approve); end
		if not ok then error(ret, 0); end
		return ret or false; -- the rest of the chain has run: never on to it again
	end };

	-- mod_lastactivity answers jabber:iq:last (XEP-0012) with the text of the user's last
	-- unavailable presence: the same status note, by another path.
	local xmlns_last = "jabber:iq:last";

	-- The first child of `stanza` from index `from` on (`tag_i` tags before it) that a public
	-- partner must not see: its index, its index among the tags, and what to show instead (nil:
	-- nothing). That is a status note in presence (<status/> in the stanza's own namespace: no
	-- xmlns once parsed or routed), and the text of a last-activity answer. One pass, no call
	-- per child: it runs for every presence leaving for a public partner.
	local function next_unwanted(stanza, from, tag_i)
		local presence = stanza.name == "presence";
		for i = from, #stanza do
			local child = stanza[i];
			local name = child.name;
			if name then
				tag_i = tag_i + 1;
				if presence then
					if name == "status" then
						local xmlns = child.attr.xmlns;
						if xmlns == nil or xmlns == "jabber:client" or xmlns == "jabber:server" then return i, tag_i; end
					end
				elseif name == "query" and child.attr.xmlns == xmlns_last and child:get_text() ~= "" then
					return i, tag_i, st.stanza("query", { xmlns = xmlns_last, seconds = child.attr.seconds });
				end
			end
		end
	end

	-- The handlers of route/remote after the partner check, which calls the status rule.
	local function rest_of_route(event) return hot.rest("route/remote", hot.route_check, event); end

	-- The rest of route/remote for `event`, with child `i` (tag `tag_i`) of its stanza taken out
	-- (or `shown` in its place) and every unwanted child after it, each put back where it was
	-- once the handlers have returned or failed: ok, result as pcall gives them. mod_presence
	-- broadcasts one stanza object to every contact and keeps it as the session's presence, so
	-- what leaves for a public partner is changed only while the handlers after the partner check
	-- (mod_s2s at -1 and -10) run for it; mod_s2s serialises (0.12) or clones (13) what it sends or queues
	-- before they return, as do the stanzas/out filters that keep a stanza (mod_smacks). One
	-- child per call, held in its locals: no copy of the stanza, no table.
	local function fire_without(stanza, i, tag_i, shown, event)
		local tags, child = stanza.tags, stanza[i];
		local from, tags_before;
		if shown then
			stanza[i], tags[tag_i] = shown, shown;
			from, tags_before = i + 1, tag_i;
		else
			table.remove(stanza, i);
			table.remove(tags, tag_i);
			from, tags_before = i, tag_i - 1;
		end
		local ok, ret;
		local next_i, next_tag_i, next_shown = next_unwanted(stanza, from, tags_before);
		if next_i then
			ok, ret = fire_without(stanza, next_i, next_tag_i, next_shown, event);
		else
			ok, ret = pcall(rest_of_route, event);
		end
		if shown then
			stanza[i], tags[tag_i] = child, child;
		else
			table.insert(tags, tag_i, child);
			table.insert(stanza, i, child);
		end
		return ok, ret;
	end

	-- A copy of `stanza` without what next_unwanted finds: the top element's copy holding the
	-- other children themselves (what routes and sends a stanza changes only the top element).
	-- Linear in the children, for a stanza with too many to take out one call each.
	local function public_copy(stanza)
		local copy = st.clone(stanza, true);
		local from, tag_i = 1, 0;
		while true do
			local i, next_tag_i, shown = next_unwanted(stanza, from, tag_i);
			for j = from, (i or #stanza + 1) - 1 do copy:add_direct_child(stanza[j]); end
			if not i then return copy; end
			if shown then copy:add_direct_child(shown); end
			from, tag_i = i + 1, next_tag_i;
		end
	end
	-- Children up to which the note is taken out in place: each one taken out is a call deep and
	-- moves the rest of the list (a local user chooses how many a presence has).
	local IN_PLACE_MAX = 32;

	-- No status note for public partners: strip it from presence (and iq:last results) leaving
	-- for them. Called by the partner check (1000) once it let the stanza leave (after the reply
	-- memory, replies.lib.lua), before mod_s2s sends or queues it (-1).
	hot.add_rule("outgoing", { "public_verified", "public_unverified" }, function (event, dest)
		local stanza = event.stanza;
		if stanza.name == "iq" and stanza.attr.type ~= "result" then return; end
		local i, tag_i, shown = next_unwanted(stanza, 1, 0);
		if not i then return; end
		metrics.stripped(dest.partner.type);
		if #stanza > IN_PLACE_MAX then
			event.stanza = public_copy(stanza); -- for the handlers after this one
			return;
		end
		local ok, ret = fire_without(stanza, i, tag_i, shown, event);
		if not ok then error(ret, 0); end
		return ret or false; -- the rest of the chain has run: never on to it again with the note
	end, { "presence", "iq" });

	-- What the hooks above do with `partner`'s users, in words (for explain, README "Explain").
	local function rules(partner)
		local unverified, federated = partner.type == "public_unverified", partner.type == "federated";
		return {
			subscriptions = unverified and "dropped unless the local user already has the contact in the roster"
				or partner.auto_approve and "approved without asking (auto_approve)"
				or "passed to the local user to decide (auto_approve = false)";
			messages = unverified and "messages, IQs and presence dropped unless the contact is in the user's roster"
				or "messages, IQs and presence delivered";
			status = federated and "status notes kept in presence sent to them"
				or "status notes removed from presence (and last-activity text) sent to them";
		};
	end
	return { rules = rules };
end
