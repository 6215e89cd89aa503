-- The per-stanza workloads of the end-to-end benchmarks (README "Performance"): which stanzas a
-- flood sends, who sends them and who counts them on arrival. `local_user` is the raw c2s
-- client of the server under test, `peer` the one of b.test (loaded with dofile).
local M = {}

local function message(to, tag, i)
	return ("<message to='%s' type='chat' id='%s%d'><body>benchmark message %d</body></message>"):format(to, tag, i, i)
end

-- A directed presence with a status note: what contact rules and status stripping look at.
local function presence(to, tag, i)
	return ("<presence to='%s' id='%s%d'><show>away</show><status>benchmark %d</status></presence>"):format(to, tag, i, i)
end

M.paths = {
	{ name = "message out", kind = "message", out = true, build = message },
	{ name = "message in", kind = "message", out = false, build = message },
	{ name = "presence out", kind = "presence", out = true, build = presence },
	{ name = "presence in", kind = "presence", out = false, build = presence },
}

--- `n` stanzas of `path` to `to`, ids prefixed by `tag`.
function M.stanzas(path, to, n, tag)
	local list = {}
	for i = 1, n do list[i] = path.build(to, tag, i) end
	return list
end

--- Log `user` (password "pw") in to `server` with `rawc2s`, available: { jid, client }.
function M.login(rawc2s, server, user)
	local t = server:client_target()
	return { jid = user .. "@" .. server.host, client = rawc2s.login{ addr = t.host, port = t.port, user = user,
		domain = server.host, password = "pw", presence = true } }
end

--- Make `client` (rawc2s) count the stanzas of `kind` from now on.
function M.count(client, kind)
	client.closing, client.tail = "</" .. kind .. ">", ""
end

--- Put `contact` in the roster of the logged-in client (public_unverified contact rules let its
-- stanzas through then: README "Partner types").
function M.add_contact(client, contact)
	client:send(("<iq type='set' id='roster-%s'><query xmlns='jabber:iq:roster'><item jid='%s'/></query></iq>")
		:format(contact, contact))
	client:read_until("id='roster-" .. contact .. "'")
	client.pending = ""
end

--- Sender, receiver and destination JID of `path` between `local_side` and `peer_side`
-- ({ client = rawc2s client, jid = bare JID }); the receiver counts the path's kind.
function M.ends(path, local_side, peer_side)
	local from, to = local_side, peer_side
	if not path.out then from, to = peer_side, local_side end
	M.count(to.client, path.kind)
	return from.client, to.client, to.jid
end

return M
