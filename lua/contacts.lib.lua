-- Partner types: what a partner's users may do with local users (SPEC §4).
--
--                         federated            public_verified      public_unverified
--   subscription request  approved (auto)      approved (auto)      only if already in roster
--   messages / IQs        yes                  yes                  only if in roster
--   status note           seen                 stripped             stripped
--
-- Drops are silent to the sender (no enumeration of local accounts), logged at debug, counted.

local st = require "util.stanza";
local jid_split, jid_bare = require "util.jid".split, require "util.jid".bare;
local rostermanager = require "core.rostermanager";

local bare_sessions = prosody.bare_sessions;

return function (policy, metrics)
	-- The partner of a stanza that arrived from a remote server, or nil.
	local function remote_partner(origin, stanza)
		if origin.type ~= "s2sin" then return; end
		local _, from_host = jid_split(stanza.attr.from);
		return from_host and policy.resolve(from_host), from_host;
	end

	local function in_roster(username, contact)
		local roster = rostermanager.load_roster(username, module.host);
		return roster and roster[contact] ~= nil;
	end

	local function drop(partner, kind, stanza)
		module:log("debug", "Dropping %s from %s (%s partner) to %s: not in the user's roster", kind,
			stanza.attr.from, partner.type, stanza.attr.to);
		metrics.dropped(partner.type, kind);
		return true;
	end

	-- Messages and IQs from public unverified partners only reach users who listed the contact.
	local function guard_unverified(event)
		local origin, stanza = event.origin, event.stanza;
		local partner = remote_partner(origin, stanza);
		if not partner or partner.type ~= "public_unverified" then return; end
		local username = jid_split(stanza.attr.to);
		if not username then return; end
		if stanza.name == "iq" and (stanza.attr.type == "result" or stanza.attr.type == "error") then
			return; -- replies to the user's own requests
		end
		if not in_roster(username, jid_bare(stanza.attr.from)) then
			return drop(partner, stanza.name, stanza);
		end
	end
	for _, event in ipairs({ "message/bare", "message/full", "iq/bare", "iq/full" }) do
		module:hook(event, guard_unverified, 1000); -- before delivery, archiving (mod_mam) and offline storage
	end

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

	-- Approve a partner contact's subscription on the user's behalf.
	local function approve(username, contact, stanza)
		local user = username .. "@" .. module.host;
		if not rostermanager.is_contact_pending_in(username, module.host, contact) then
			rostermanager.set_contact_pending_in(username, module.host, contact, stanza);
		end
		if not rostermanager.subscribed(username, module.host, contact) then
			return false;
		end
		rostermanager.roster_push(username, module.host, contact);
		module:send(st.presence({ from = user, to = contact, type = "subscribed" }));
		send_current_presence(username, contact);
		module:log("debug", "Approved %s's subscription to %s without asking (partner policy)", contact, user);
		return true;
	end

	module:hook("presence/bare", function (event)
		local origin, stanza = event.origin, event.stanza;
		if stanza.attr.type ~= "subscribe" then return; end
		local partner = remote_partner(origin, stanza);
		if not partner then return; end
		local username = jid_split(stanza.attr.to);
		if not username then return; end
		local contact = jid_bare(stanza.attr.from);
		if partner.type == "public_unverified" then
			if not in_roster(username, contact) then
				return drop(partner, "subscribe", stanza);
			end
			return; -- mod_presence asks the user as usual
		end
		if partner.auto_approve and not rostermanager.is_contact_subscribed(username, module.host, contact) then
			if approve(username, contact, stanza) then return true; end
		end
	end, 1000); -- before mod_presence (0)

	-- No status note for public partners: strip it from presence leaving for them.
	module:hook("route/remote", function (event)
		local stanza = event.stanza;
		if stanza.name ~= "presence" or not stanza:get_child("status") then return; end
		local partner = policy.resolve(event.to_host);
		if not partner or partner.type == "federated" then return; end
		-- The same stanza object may be broadcast to other contacts: change a copy.
		local copy = st.clone(stanza);
		copy:maptags(function (tag)
			if tag.name == "status" and (tag.attr.xmlns == nil or tag.attr.xmlns == "jabber:client") then return nil; end
			return tag;
		end);
		event.stanza = copy;
		metrics.stripped(partner.type);
	end, 900); -- after the partner check (1000), before mod_s2s sends or queues it (-1)
end
