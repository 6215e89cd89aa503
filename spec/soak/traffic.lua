-- One round of soak traffic (spec/soak/soak.lua) and the check of every outcome against a.test's
-- policy (spec/soak/plan.lua's classes). Each stanza is told apart by its round and domain.
local util = require "harness.util"

local traffic = {}

local T = util.WAIT

local function bare(jid) return (jid or ""):match("^[^/]+") end

-- The key of a record in alice's inbox.
local function key_of(r)
	if r.type == "error" then
		return (r.kind == "message" and "err " .. tostring(r.id)) or ("perr " .. bare(r.from))
	end
	if r.kind == "message" then return "msg " .. tostring(r.body) end
	if r.kind == "presence" then return ("pres %s %s %s"):format(bare(r.from), r.type or "available", r.status or "") end
	return r.kind
end

-- tally[name] = { sent =, delivered =, refused = }
local function count(tally, name, field, n)
	local t = tally[name]
	if not t then t = { sent = 0, delivered = 0, refused = 0 }; tally[name] = t end
	t[field] = t[field] + (n or 1)
end

--- Send one round for every domain and check it. ctx: alice, account(jid), domains (from
-- plan), class_of(d) (the current class), forbidden (set of alice's inbox keys that must never
-- appear, kept across rounds), tally, dropped_subscribes() (a.test's counter of dropped
-- subscription requests). Returns nil, why on the first wrong outcome.
function traffic.round(ctx, r)
	local alice, tally, forbidden = ctx.alice, ctx.tally, ctx.forbidden
	local expected, checks = {}, {}
	for _, d in ipairs(ctx.domains) do
		local class, bob = ctx.class_of(d), ctx.account("bob@" .. d.domain)
		local jid, id = "bob@" .. d.domain, ("r%d-%s"):format(r, d.domain)
		assert(alice:send_message{ to = jid, body = "to " .. id, id = id })
		assert(bob:send_message("alice@a.test", "from " .. id))
		if class == "allowed" then
			assert(alice:send_presence{ to = jid, status = "p" .. id })
			assert(bob:send_presence{ to = "alice@a.test", status = "q" .. id })
			expected["msg from " .. id] = "allowed message in"
			expected[("pres %s available q%s"):format(jid, id)] = "allowed presence in"
			count(tally, "allowed message in", "sent")
			count(tally, "allowed presence in", "sent")
			checks[#checks + 1] = { bob = bob, body = "to " .. id, status = (d.partner or d).type == "federated" and "p" .. id }
			if d.stranger then
				assert(ctx.account("mallory@" .. d.domain):send_message("alice@a.test", "from stranger " .. id))
				forbidden["msg from stranger " .. id] = true
				count(tally, "stranger message in (dropped)", "sent")
			end
		else
			local name = class == "misconfigured" and "misconfigured" or "unlisted"
			forbidden["msg from " .. id] = true
			expected["err " .. id] = name .. " message out (bounced)"
			count(tally, name .. " message out (bounced)", "sent")
			count(tally, name .. " message in (refused)", "sent")
			if name == "unlisted" then
				assert(alice:send_presence{ to = jid, status = "p" .. id })
				expected["perr " .. jid] = "unlisted presence out (bounced)"
				count(tally, "unlisted presence out (bounced)", "sent")
			end
		end
	end
	-- What reaches the peers' users: each message, and the presence with its status only where
	-- the partner is federated (README "Partner types").
	for _, c in ipairs(checks) do
		if not c.bob:expect_message{ from = "alice@a.test", body = c.body, timeout = T } then
			return nil, "lost: " .. c.body
		end
		local p = c.bob:expect_presence{ from = "alice@a.test", type = "available", timeout = T }
		if not p then return nil, "lost: presence " .. c.body end
		if (p.status or false) ~= (c.status or false) then
			return nil, ("presence status %s where %s was due (%s)"):format(tostring(p.status), tostring(c.status), c.body)
		end
		count(tally, "allowed message out", "sent")
		count(tally, "allowed message out", "delivered")
		count(tally, "allowed presence out", "sent")
		count(tally, "allowed presence out", "delivered")
	end
	-- Everything due at alice, then nothing forbidden.
	local missing
	local got = util.poll(function()
		local inbox = assert(alice:received())
		local seen = {}
		for _, rec in ipairs(inbox) do seen[key_of(rec)] = true end
		missing = nil
		for k in pairs(expected) do
			if not seen[k] then missing = k break end
		end
		return not missing and inbox
	end, T, 0.1)
	if not got then return nil, "missing at alice: " .. tostring(missing) end
	for _, rec in ipairs(got) do
		local k = key_of(rec)
		if forbidden[k] then return nil, "delivered although the policy forbids it: " .. k end
		local name = expected[k]
		if name then
			count(tally, name, name:find("bounced", 1, true) and "refused" or "delivered")
			expected[k] = nil
		end
	end
	assert(alice:clear())
	return true
end

--- One subscription cycle with `sub` (an account of domain `d`): in (sub asks alice:
-- approved for federated / public_verified, dropped for public_unverified), then out (alice
-- asks sub, sub approves), then alice removes the contact again. nil, why on a wrong outcome.
function traffic.subscriptions(ctx, d)
	local alice, sub, tally = ctx.alice, ctx.account("sub@" .. d.domain), ctx.tally
	local jid = "sub@" .. d.domain
	assert(sub:clear())
	local dropped = ctx.dropped_subscribes()
	assert(sub:subscribe("alice@a.test"))
	if d.partner.type == "public_unverified" then
		count(tally, "subscription in (dropped)", "sent")
		-- Dropped before alice asks in turn: her request puts sub in her roster, and a request from
		-- a contact in the roster is delivered (README "Partner types").
		if not util.poll(function() return ctx.dropped_subscribes() > dropped end, T, 0.1) then
			return nil, "the request from " .. jid .. " was not dropped"
		end
	else
		count(tally, "subscription in (approved)", "sent")
		if not sub:expect_presence{ from = "alice@a.test", type = "subscribed", timeout = T } then
			return nil, "no approval for " .. jid
		end
		count(tally, "subscription in (approved)", "delivered")
	end
	assert(alice:subscribe(jid))
	count(tally, "subscription out", "sent")
	if not sub:expect_presence{ from = "alice@a.test", type = "subscribe", timeout = T } then
		return nil, "alice's request did not reach " .. jid
	end
	assert(sub:subscribed("alice@a.test"))
	if not alice:expect_presence{ from = jid, type = "subscribed", timeout = T } then
		return nil, "no answer from " .. jid
	end
	count(tally, "subscription out", "delivered")
	-- The dropped request never reached alice (it would be in her inbox by now: it was sent first).
	local stray = assert(alice:received{ kind = "presence", type = "subscribe", from = jid })
	if stray[1] then return nil, "a dropped subscription request reached alice from " .. jid end
	assert(alice:roster_remove(jid))
	return true
end

return traffic
