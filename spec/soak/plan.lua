-- The domains of the soak (spec/soak/soak.lua) and what the policy of a.test does with each
-- (README "Reliability"). Peers: p12.test (Prosody 0.12), p13.test (Prosody 13), e.test
-- (ejabberd), each hosting domains below its own name (covered by its certificate's *.<host>).
--
-- class   what a.test's policy does
--   allowed        a partner the peer can negotiate with: messages and presence both ways
--                  delivered (public types: status removed from presence to them, README
--                  "Partner types"); public_unverified domains are in alice's roster
--   unlisted       not a partner: alice's stanzas bounce (route/remote, metric `bounced`), the
--                  peer's streams are refused, nothing of theirs reaches alice
--   misconfigured  a tls = "not_supported" partner on ejabberd, which requires STARTTLS: the
--                  outgoing stream is refused (tls_not_supported), alice's stanzas bounce
--   toggled        a runtime partner that admin edits put and remove: allowed or unlisted
-- Strangers (mallory@ a public_unverified domain, not in alice's roster) write too: dropped.
local plan = {}

-- The valid and warning rows of README "Negotiation matrix" (the invalid ones are refused at
-- load): tls, sasl, dialback.
plan.ROWS = {
	{ "required", "required", false }, { "required", "optional", true }, { "required", "optional", false },
	{ "required", "not_supported", true }, { "optional", "not_supported", true },
	{ "not_supported", "not_supported", true },
	{ "required", "required", true }, { "optional", "required", true }, { "optional", "required", false },
	{ "not_supported", "required", true }, { "optional", "optional", true }, { "optional", "optional", false },
	{ "not_supported", "optional", true },
}
plan.TYPES = { federated = "fed", public_verified = "pv", public_unverified = "pu" }

local function record(domain, partner_type, row)
	return { domain = domain, type = partner_type, tls = row[1], sasl = row[2], dialback = row[3] }
end

--- The domains: a list of { domain, peer ("p12" | "p13" | "e"), class, partner (the record
-- for a.test's list, nil when unlisted / toggled), type (a toggled domain's, when put), subs
-- (has a sub@ account), stranger (has mallory@) }, and a.test's partner list.
function plan.domains()
	local list, partners = {}, {}
	local function add(d)
		list[#list + 1] = d
		if d.partner then partners[#partners + 1] = d.partner end
	end
	for r, row in ipairs(plan.ROWS) do
		local peer = r <= 7 and "p12" or "p13"
		for _, t in ipairs({ "federated", "public_verified", "public_unverified" }) do
			local domain = ("r%d-%s.%s.test"):format(r, plan.TYPES[t], peer)
			add({ domain = domain, peer = peer, class = "allowed", partner = record(domain, t, row),
				subs = r == 2 or r == 8, stranger = t == "public_unverified" })
		end
	end
	-- ejabberd: SASL EXTERNAL over TLS works; without TLS it cannot (it requires STARTTLS).
	for i, spec in ipairs({ { "federated", plan.ROWS[2] }, { "public_verified", plan.ROWS[11] },
		{ "public_unverified", plan.ROWS[1] } }) do
		local domain = ("ok%d.e.test"):format(i)
		add({ domain = domain, peer = "e", class = "allowed", partner = record(domain, spec[1], spec[2]),
			stranger = spec[1] == "public_unverified" })
	end
	for i, row in ipairs({ plan.ROWS[6], plan.ROWS[13] }) do
		local domain = ("bad%d.e.test"):format(i)
		add({ domain = domain, peer = "e", class = "misconfigured", partner = record(domain, "federated", row) })
	end
	for _, peer in ipairs({ "p12", "p13", "e" }) do
		add({ domain = peer .. ".test", peer = peer, class = "unlisted" })
	end
	for i, peer in ipairs({ "p13", "p12" }) do
		add({ domain = ("t%d.%s.test"):format(i, peer), peer = peer, class = "toggled", type = "federated" })
	end
	return list, partners
end

--- The accounts each peer serves for `domains`: { [peer] = { ["bob@d"] = pw, … } }.
function plan.users(domains, password)
	local users = { p12 = {}, p13 = {}, e = {} }
	for _, d in ipairs(domains) do
		local u = users[d.peer]
		u["bob@" .. d.domain] = password
		if d.subs then u["sub@" .. d.domain] = password end
		if d.stranger then u["mallory@" .. d.domain] = password end
	end
	return users
end

--- The peers' main hosts and extra hosts: { [peer] = { "r1-fed.p12.test", … } } (the main host,
-- `<peer>.test`, is the unlisted domain of that peer).
function plan.extra_hosts(domains)
	local hosts = { p12 = {}, p13 = {}, e = {} }
	for _, d in ipairs(domains) do
		if d.domain ~= d.peer .. ".test" then table.insert(hosts[d.peer], d.domain) end
	end
	return hosts
end

return plan
