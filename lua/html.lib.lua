-- HTML for the web panel (README "Web panel and JSON API"): an element builder that escapes
-- every text and attribute value it is given (descriptions, domains and peer texts are
-- attacker-influenced: a description may contain markup), and the page layout. Markup exists
-- only as what el() returns; plain strings are always text. No inline script or style: the
-- layout links web/panel.css and web/panel.js (the Content-Security-Policy forbids the rest).

-- Markup is a table with this metatable. Each module:require() of this file is a new instance,
-- so markup is recognised by the metatable's name, not by its identity.
local RAW = { __name = "s2s_partners.html" };

local ESCAPES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" };

local function escape(text)
	return (tostring(text):gsub("[&<>\"']", ESCAPES));
end

local function raw(markup) return setmetatable({ markup }, RAW); end

local function is_raw(v)
	local mt = getmetatable(v);
	return type(mt) == "table" and mt.__name == RAW.__name;
end

-- Children: strings and numbers (escaped), markup, false / nil (skipped), lists of these.
-- (`n` of table.pack counts as a length; no child list has a field of that name.)
local function append(out, child)
	if child == nil or child == false then return; end
	if is_raw(child) then
		out[#out + 1] = child[1];
	elseif type(child) == "table" then -- a list, holes included (`cond and el(...)` may be nil)
		local n = child.n or 0;
		for k in pairs(child) do if math.type(k) == "integer" and k > n then n = k; end end
		for i = 1, n do append(out, child[i]); end
	else
		out[#out + 1] = escape(child);
	end
end

local VOID = { input = true, meta = true, link = true, br = true };

--- el(tag, attrs, children...) -> markup. attrs: { name = value } (true: a bare attribute;
-- false / nil: left out), written in name order so pages are stable.
local function el(tag, attrs, ...)
	local out = { "<", tag };
	local names = {};
	for name in pairs(attrs or {}) do names[#names + 1] = name; end
	table.sort(names);
	for _, name in ipairs(names) do
		local v = attrs[name];
		if v == true then
			out[#out + 1] = " " .. name;
		elseif v ~= nil and v ~= false then
			out[#out + 1] = (" %s=\"%s\""):format(name, escape(v));
		end
	end
	out[#out + 1] = ">";
	if not VOID[tag] then
		append(out, table.pack(...));
		out[#out + 1] = "</" .. tag .. ">";
	end
	return raw(table.concat(out));
end

--- The whole document: title, the panel's header and navigation, `body` (markup) in <main>.
-- opts: { base = "/s2s_partners/", who = "alice@example.com" or nil, csrf = token or nil }
local function page(title, body, opts)
	local base = opts.base;
	local nav = opts.who and el("nav", { ["aria-label"] = "Panel" },
		el("a", { href = base }, "Partners"), " ",
		el("a", { href = base .. "new" }, "New partner"), " ",
		el("a", { href = base .. "audit" }, "Audit log"), " ",
		el("form", { method = "post", action = base .. "logout", class = "inline" },
			el("input", { type = "hidden", name = "csrf", value = opts.csrf }),
			el("button", { type = "submit", class = "link" }, "Log out " .. opts.who)));
	local doc = el("html", { lang = "en" },
		el("head", nil,
			el("meta", { charset = "utf-8" }),
			el("meta", { name = "viewport", content = "width=device-width, initial-scale=1" }),
			el("title", nil, title .. " — federation partners of " .. module.host),
			el("link", { rel = "stylesheet", href = base .. "static/panel.css" }),
			el("script", { src = base .. "static/panel.js", defer = true })),
		el("body", { ["data-base"] = base },
			el("a", { href = "#main", class = "skip" }, "Skip to content"),
			el("header", nil, el("p", { class = "brand" }, "XMPP federated partners of ", el("strong", nil, module.host)), nav),
			el("main", { id = "main" }, el("h1", nil, title), body)));
	return "<!DOCTYPE html>\n" .. doc[1] .. "\n";
end

--- A table: columns { { key, title } }, rows of { [key] = text or markup }; caption optional.
local function grid(columns, rows, caption)
	local head = {};
	for i, c in ipairs(columns) do head[i] = el("th", { scope = "col" }, c.title); end
	local body = {};
	for i, row in ipairs(rows) do
		local cells = {};
		for j, c in ipairs(columns) do
			local v = row[c.key];
			cells[j] = el(j == 1 and "th" or "td", j == 1 and { scope = "row" } or nil, v == nil and "-" or v);
		end
		body[i] = el("tr", nil, cells);
	end
	return el("div", { class = "scroll" }, el("table", nil, caption and el("caption", nil, caption),
		el("thead", nil, el("tr", nil, head)), el("tbody", nil, body)));
end

return { escape = escape, raw = raw, el = el, page = page, grid = grid };
