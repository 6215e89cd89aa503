-- README.md's "Options" and "Partner record" tables against partners.options() and
-- partners.schema(): the same rows in the same order, and the same texts once the Markdown
-- backticks are gone (descriptions: the README cell begins with the schema's sentence).
local partners = require "s2s_partners"

local function read_readme()
	local f = assert(io.open("README.md", "rb"))
	local text = f:read("a")
	f:close()
	return text
end

-- A cell as plain text: no backticks, no escaped pipes.
local function plain(cell)
	return (cell:gsub("`", ""):gsub("\\|", "|"))
end

-- The cells of a Markdown table row "| a | b \| c | d |" (an escaped pipe stays in its cell).
local function cells(line)
	local out, cell, i = {}, {}, 2
	while i <= #line do
		local c = line:sub(i, i)
		if c == "\\" and line:sub(i + 1, i + 1) == "|" then
			cell[#cell + 1] = "\\|"
			i = i + 2
		else
			if c == "|" then
				out[#out + 1] = table.concat(cell):match("^%s*(.-)%s*$")
				cell = {}
			else
				cell[#cell + 1] = c
			end
			i = i + 1
		end
	end
	return out
end

-- The first table under the heading `heading`: its header cells and its rows (lists of cells).
local function table_under(text, heading)
	local start = text:find("\n" .. heading .. "\n", 1, true)
	assert(start, "README.md has no heading " .. heading)
	local header, rows = nil, {}
	for line in text:sub(start + #heading + 2):gmatch("([^\n]*)\n") do
		if line:match("^#") then break end
		if line:match("^|") then
			if not header then
				header = cells(line)
			elseif not line:match("^|%-") then
				rows[#rows + 1] = cells(line)
			end
		elseif header then
			break
		end
	end
	assert(header, "no table under " .. heading)
	return header, rows
end

-- Column numbers by header name.
local function columns(header)
	local t = {}
	for i, name in ipairs(header) do t[name] = i end
	return t
end

-- Compare `entries` (schema or options) with README rows; returns a list of differences.
-- `checks`: { { column = README header, key = entry key, how = "equal" | "prefix" | "lync" } }
local function compare(heading, header, rows, entries, checks)
	local col, diffs = columns(header), {}
	local function say(fmt, ...)
		diffs[#diffs + 1] = heading .. ": " .. fmt:format(...)
	end
	local present = {}
	for _, check in ipairs(checks) do
		if col[check.column] then
			present[#present + 1] = check
		else
			say('no column "%s"', check.column)
		end
	end
	local n = math.max(#rows, #entries)
	for i = 1, n do
		local row, entry = rows[i], entries[i]
		local name = row and plain(row[1])
		if not entry then
			say("row %d (%s) is not in the core's list", i, name)
		elseif not row then
			say('row %d: the core has "%s", README has no row', i, entry.name)
		elseif name ~= entry.name then
			say('row %d: README has "%s", the core has "%s"', i, name, entry.name)
		else
			for _, check in ipairs(present) do
				local cell = row[col[check.column]]
				local want = entry[check.key]
				local got = cell and plain(cell)
				local ok
				if check.how == "prefix" then
					ok = got ~= nil and got:sub(1, #want) == want
				elseif check.how == "lync" then
					ok = got == (want or "—")
				else
					ok = got == want
				end
				if not ok then
					say('row %d (%s), column "%s": README has "%s", the core has %s"%s"', i, name, check.column,
						tostring(got), check.how == "prefix" and "a sentence that it should begin with: " or "",
						tostring(want or "—"))
				end
			end
		end
	end
	return diffs
end

local function assert_no_diffs(diffs)
	assert(#diffs == 0, "README.md and the C core differ:\n  " .. table.concat(diffs, "\n  "))
end

describe("README.md", function()
	local readme = read_readme()

	it('"### Partner record" lists partners.schema(): fields, order, type, default, Lync property, description', function()
		local header, rows = table_under(readme, "### Partner record")
		assert_no_diffs(compare("Partner record", header, rows, partners.schema(), {
			{ column = "type", key = "type_text", how = "equal" },
			{ column = "default", key = "default_text", how = "equal" },
			{ column = "Lync property", key = "lync", how = "lync" },
			{ column = "description", key = "description", how = "prefix" },
		}))
	end)

	it('"### Options" lists partners.options() among Prosody\'s own options, in order', function()
		local header, rows = table_under(readme, "### Options")
		local default = columns(header).default
		assert(default, 'no column "default" under ### Options')
		-- Prosody's own options say so in their default ("Prosody: true"); the rest are the module's.
		local own = {}
		for _, row in ipairs(rows) do
			if not plain(row[default]):match("^Prosody:") then own[#own + 1] = row end
		end
		assert_no_diffs(compare("Options", header, own, partners.options(), {
			{ column = "default", key = "default_text", how = "equal" },
			{ column = "description", key = "description", how = "prefix" },
		}))
	end)

	-- The comparison itself: a README that drifted is reported row by row and column by column.
	it("reports which row and column differ", function()
		local header = { "field", "type", "default", "Lync property", "description" }
		local rows = {
			{ "`domain`", "domain name", "— (required)", "`Domain`", "The partner's primary XMPP domain. More." },
			{ "`tls`", "boolean", "`\"required\"`", "—", "TLS." },
		}
		local schema = partners.schema()
		local diffs = compare("Partner record", header, rows, { schema[1], schema[5], schema[6] }, {
			{ column = "type", key = "type_text", how = "equal" },
			{ column = "Lync property", key = "lync", how = "lync" },
			{ column = "description", key = "description", how = "prefix" },
		})
		assert.same({
			'Partner record: row 2 (tls), column "type": README has "boolean", the core has '
				.. '""required", "optional", "not_supported""',
			'Partner record: row 2 (tls), column "Lync property": README has "—", the core has "TlsNegotiation"',
			'Partner record: row 2 (tls), column "description": README has "TLS.", the core has a sentence that it '
				.. 'should begin with: "' .. schema[5].description .. '"',
			'Partner record: row 3: the core has "sasl", README has no row',
		}, diffs)
	end)
end)
