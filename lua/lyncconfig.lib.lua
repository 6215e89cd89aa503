-- The prosody.cfg.lua text of an import (README "Migrating from Lync"): an `s2s_partners`
-- option with one record per valid row, in the schema's field order, and the import's notes and
-- warnings as comments. The text is Lua that Prosody's config loader accepts as it is.
--
-- config.snippet(result, { source = "partners.csv", host = "example.com" }) -> text
-- config.record_value(record) -> "{ domain = …; … }" (one line); config.literal(value),
-- config.quote(string) -> Lua literals

-- A comment's text on one line (a description or a hostile file may hold line breaks).
local function comment(text)
	return (tostring(text):gsub("%c", " "));
end

local function quote(s)
	return (("%q"):format(s):gsub("\\\n", "\\n"));
end

local function literal(v)
	if type(v) == "string" then return quote(v); end
	if type(v) == "table" then
		local items = {};
		for i, item in ipairs(v) do items[i] = quote(item); end
		return #items == 0 and "{}" or ("{ " .. table.concat(items, ", ") .. " }");
	end
	return tostring(v);
end

return function (core)
	local names = {};
	for _, field in ipairs(core.schema()) do names[#names + 1] = field.name; end

	-- A record as a Lua table constructor, fields in schema order, on one line.
	local function record_value(record)
		local parts = {};
		for _, name in ipairs(names) do
			if record[name] ~= nil then parts[#parts + 1] = ("%s = %s"):format(name, literal(record[name])); end
		end
		return "{ " .. table.concat(parts, "; ") .. " }";
	end
	local function record_text(record) return record_value(record) .. ";"; end

	local function snippet(result, opts)
		local out = {
			("-- mod_s2s_partners: partners imported from %s (Lync %s, %s); see README \"Migrating from Lync\"")
				:format(comment(opts.source or "a Lync export"), result.format, result.encoding),
			opts.host and ("-- For the section VirtualHost %s"):format(comment(quote(opts.host))) or
				"-- For the VirtualHost section of the host these partners federate with",
		};
		for _, kind in ipairs{ "notes", "warnings" } do
			for _, n in ipairs(result[kind]) do
				out[#out + 1] = ("-- %s: line %d: %s"):format(kind == "notes" and "note" or "warning", n.line, comment(n.text));
			end
		end
		out[#out + 1] = "s2s_partners = {";
		for i, record in ipairs(result.records) do
			out[#out + 1] = ("\t-- line %d"):format(result.lines[i]);
			out[#out + 1] = "\t" .. record_text(record);
		end
		out[#out + 1] = "}";
		return table.concat(out, "\n") .. "\n";
	end

	return { snippet = snippet, record_value = record_value, literal = literal, quote = quote };
end
