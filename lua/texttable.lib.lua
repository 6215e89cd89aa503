-- Aligned text tables for the shell and for ad-hoc notes (README "Administration").
--
-- texttable.lines(columns, rows) -> { line, ... }
--   columns: list of { key = "field in each row", title = "heading" }
--   rows:    list of tables; a missing value prints as "-", a boolean as true/false
-- Cells are single-line: control characters (a hostile peer's text, a newline in a description)
-- become spaces, and a cell is cut at 120 characters, so one row is always one line.

local CELL_MAX = 120;

local function cell(value)
	if value == nil or value == "" then return "-"; end
	local text = tostring(value):gsub("%c", " ");
	if #text > CELL_MAX then text = text:sub(1, CELL_MAX - 1) .. "…"; end
	return text;
end

-- Display width of a cell: count code points, not octets (domains and descriptions may be UTF-8).
local function width(text)
	return utf8.len(text) or #text;
end

local function lines(columns, rows)
	local widths, cells = {}, {};
	for c, column in ipairs(columns) do widths[c] = width(column.title); end
	for r, row in ipairs(rows) do
		cells[r] = {};
		for c, column in ipairs(columns) do
			local text = cell(row[column.key]);
			cells[r][c] = text;
			local w = width(text);
			if w > widths[c] then widths[c] = w; end
		end
	end
	local function render(texts)
		local out = {};
		for c, text in ipairs(texts) do
			out[c] = c < #texts and (text .. (" "):rep(widths[c] - width(text))) or text;
		end
		return table.concat(out, "  ");
	end
	local titles = {};
	for c, column in ipairs(columns) do titles[c] = column.title; end
	local out = { render(titles) };
	for r = 1, #rows do out[#out + 1] = render(cells[r]); end
	return out;
end

return { lines = lines, cell = cell };
