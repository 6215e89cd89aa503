-- The pure part of the partner status (README "Status"): bounded rings of attempts,
-- the cleaning of every string a peer controls, and the report's shape.
--
-- Plain Lua: nothing here touches `module` or `prosody`, so spec/unit/status_spec.lua loads it
-- with dofile(). status.lib.lua feeds it from Prosody's events.
--
-- Memory is bounded whatever a peer does: one ring per configured partner (keyed by its
-- primary domain, so bounded by the partner list), one for the default policy (not one per
-- remote domain), one for refused unlisted domains; every string is cut.

local data = {};

data.PER_PARTNER = 5;  -- attempts kept per partner and for the default policy
data.UNLISTED = 50;    -- refused attempts of unlisted domains kept
data.DOMAIN_MAX = 255; -- octets kept of a remote domain (RFC 1035 §2.3.4: a name is at most 255)
data.TEXT_MAX = 200;   -- octets kept of a text (ours or the peer's)
data.TOKEN_MAX = 64;   -- octets kept of a reason token

--- `value` as a single printable line of at most `max` octets: control characters become
-- spaces, and a cut never splits a UTF-8 sequence. nil stays nil.
function data.clean(value, max)
	if value == nil then return nil; end
	local text = tostring(value):gsub("%c", " ");
	if #text > max then
		local cut = max;
		while cut > 0 and (text:byte(cut + 1) & 0xC0) == 0x80 do cut = cut - 1; end
		text = text:sub(1, cut);
	end
	return text;
end

--- What the peer said when it ended the stream, as "<condition>: <text>": mod_s2s hands a
-- stream error over as "<condition> (<text>)" or "<condition>" (RFC 6120 §4.9), a SASL failure
-- as an error object with condition and text (RFC 6120 §6.5); anything else is kept as it is.
function data.peer_error(reason)
	if type(reason) == "table" then
		local condition, text = reason.condition, reason.text;
		if condition == nil and text == nil then return nil; end
		if condition and text then return data.clean(("%s: %s"):format(condition, text), data.TEXT_MAX); end
		return data.clean(condition or text, data.TEXT_MAX);
	end
	if type(reason) ~= "string" or reason == "" then return nil; end
	local condition, text = reason:match("^([%l%-]+) %((.*)%)$");
	if condition then reason = condition .. ": " .. text; end
	return data.clean(reason, data.TEXT_MAX);
end

-- A ring of the last `size` items; `total` counts every push.
local Ring = {};
Ring.__index = Ring;

function data.ring(size)
	return setmetatable({ size = size, total = 0, items = {} }, Ring);
end

function Ring:push(item)
	self.total = self.total + 1;
	self.items[(self.total - 1) % self.size + 1] = item;
end

local function copy(record)
	local out = {};
	for k, v in pairs(record) do out[k] = v; end
	return out;
end

--- Copies of the items kept, newest first.
function Ring:list()
	local out = {};
	for i = self.total, math.max(1, self.total - self.size + 1), -1 do
		out[#out + 1] = copy(self.items[(i - 1) % self.size + 1]);
	end
	return out;
end

--- One attempt, cleaned: time, direction, remote, outcome ("accepted" | "refused" | "closed" |
-- "failed"), and where known method, reason (a metric reason token), text (ours), peer_error.
function data.attempt(fields)
	return {
		time = tonumber(fields.time) or 0;
		direction = data.clean(fields.direction or "unknown", data.TOKEN_MAX);
		remote = data.clean(fields.remote, data.DOMAIN_MAX);
		outcome = fields.outcome;
		method = data.clean(fields.method, data.TOKEN_MAX);
		reason = data.clean(fields.reason, data.TOKEN_MAX);
		text = data.clean(fields.text, data.TEXT_MAX);
		peer_error = data.clean(fields.peer_error, data.TEXT_MAX);
	};
end

-- Where attempts are kept: per partner (compiled records from the C core: `domain`, `default`).
local Store = {};
Store.__index = Store;

function data.store()
	return setmetatable({ partners = {}, default = nil, unlisted = data.ring(data.UNLISTED) }, Store);
end

-- The ring of `partner` (nil: none yet and `create` not set).
function Store:ring(partner, create)
	if partner.default then
		if not self.default and create then self.default = data.ring(data.PER_PARTNER); end
		return self.default;
	end
	local ring = self.partners[partner.domain];
	if not ring and create then
		ring = data.ring(data.PER_PARTNER);
		self.partners[partner.domain] = ring;
	end
	return ring;
end

--- Keep `attempt` (from data.attempt) for `partner`, or, without one, as an unlisted domain's.
function Store:add(partner, attempt)
	if partner then
		self:ring(partner, true):push(attempt);
	else
		self.unlisted:push(attempt);
	end
end

--- The attempts kept for `partner`, newest first.
function Store:attempts(partner)
	local ring = self:ring(partner, false);
	return ring and ring:list() or {};
end

--- After a policy change, forget the partners it removed: keep the rings of the domains for
-- which `is_partner(domain)` is true (a primary domain of the new policy), and the default
-- policy's only when there is one (`default`: the new default partner or nil). O(partners with
-- a ring), whatever the size of the list.
function Store:retain(is_partner, default)
	for domain in pairs(self.partners) do
		if not is_partner(domain) then self.partners[domain] = nil; end
	end
	if not default then self.default = nil; end
end

local function entry(store, partner, streams)
	return {
		domain = not partner.default and partner.domain or nil;
		default = partner.default == true;
		streams = streams[partner] or {};
		attempts = store:attempts(partner);
	};
end

local function by_age(a, b)
	if a.since ~= b.since then return (a.since or 0) < (b.since or 0); end
	if a.remote ~= b.remote then return a.remote < b.remote; end
	return a.direction < b.direction;
end

--- The report (README "Status"). `partners`: the compiled partners in list order;
-- `default`: the default policy's record or nil; `streams`: the authenticated streams as
-- { partner =, direction =, remote =, method =, tls =, cert_chain =, cert_identity =, since = };
-- `filter`: nil for everything, or { owner = the record owning the queried domain or false,
-- domain = that domain as Prosody spells remote domains, nil when it is none } for one partner
-- (the default entry when the default policy governs it, none when nothing does) and that
-- domain's unlisted refusals. `config_error`: why no policy is in force, if so.
function data.report(store, partners, default, streams, filter, config_error)
	local grouped = {};
	for _, s in ipairs(streams) do
		if s.partner then
			local list = grouped[s.partner];
			if not list then list = {}; grouped[s.partner] = list; end
			list[#list + 1] = {
				direction = s.direction, remote = s.remote, method = s.method, tls = s.tls,
				cert_chain = s.cert_chain, cert_identity = s.cert_identity, since = s.since,
			};
		end
	end
	for _, list in pairs(grouped) do table.sort(list, by_age); end

	local report = { partners = {}, unlisted = store.unlisted:list(), unlisted_total = store.unlisted.total,
		config_error = config_error };
	if filter then
		if filter.owner then report.partners[1] = entry(store, filter.owner, grouped); end
		local mine = {};
		for _, attempt in ipairs(report.unlisted) do
			if filter.domain ~= nil and attempt.remote == filter.domain then mine[#mine + 1] = attempt; end
		end
		report.unlisted = mine;
		return report;
	end
	for i, partner in ipairs(partners) do report.partners[i] = entry(store, partner, grouped); end
	if default then report.default = entry(store, default, grouped); end
	return report;
end

return data;
