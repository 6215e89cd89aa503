-- Partner records from a Lync / Skype for Business Server export of Get-CsXmppAllowedPartner
-- (README "Migrating from Lync"). The C core reads the file (partners.lync_parse: encoding,
-- Export-Csv, Format-List or ConvertTo-Json); this maps each row's properties to a record
-- through partners.schema()'s `lync` names and `lync_values`, then validates the whole list
-- with partners.compile, naming every invalid row by its line.
--
-- import(text [, format]) -> result | nil, err
--   result = { format, encoding,
--              records = { record, ... },   -- the valid rows, in file order
--              lines = { line, ... },       -- the line of each record
--              notes, warnings, errors = { { line = N, text = "..." }, ... } }
-- Nothing is valid unless errors is empty: the caller applies all or nothing.

-- The export command that keeps AdditionalDomains readable (README "Migrating from Lync").
local EXPORT_COMMAND = "Get-CsXmppAllowedPartner | Select-Object Identity,Domain,"
	.. "@{n='AdditionalDomains';e={$_.AdditionalDomains -join ';'}},ProxyFqdn,ConnectionLimit,"
	.. "EnableKeepAlive,PartnerType,TlsNegotiation,SaslNegotiation,SupportDialbackNegotiation,"
	.. "Description | Export-Csv -NoTypeInformation -Encoding UTF8 partners.csv";

-- What New-CsXmppAllowedPartner sets when a parameter is not given, in Lync's spelling: they
-- apply to a missing column or an empty cell. Together they are a warning row of README
-- "Negotiation matrix" (TLS and SASL required with dialback).
local LYNC_DEFAULTS = {
	PartnerType = "PublicUnverified",
	TlsNegotiation = "Required",
	SaslNegotiation = "Required",
	SupportDialbackNegotiation = "True",
	EnableKeepAlive = "True",
};

local BOOLEANS = { ["true"] = true, ["$true"] = true, ["false"] = false, ["$false"] = false };

local function trim(s)
	return (s:gsub("^%s+", ""):gsub("%s+$", ""));
end

return function (core)
	local fields, by_property = {}, {};
	for _, field in ipairs(core.schema()) do
		if field.lync then
			fields[#fields + 1] = field;
			by_property[field.lync:lower()] = field;
		end
	end

	-- Convert one value of `field` ({ value, kind } from the parser): value, or nil, err.
	local convert = {};
	function convert.enum(field, v)
		if v.kind == "number" then
			return nil, ("%s is the number %s (Windows PowerShell's ConvertTo-Json writes enumerations as numbers): "
				.. "export with %s"):format(field.lync, v.value, EXPORT_COMMAND);
		end
		for i, name in ipairs(field.lync_values) do
			if name:lower() == v.value:lower() then return field.values[i]; end
		end
		return nil, ("%s %q is none of %s"):format(field.lync, v.value, table.concat(field.lync_values, ", "));
	end
	function convert.boolean(field, v)
		local b = BOOLEANS[v.value:lower()];
		if b == nil then return nil, ("%s %q is neither True nor False"):format(field.lync, v.value); end
		return b;
	end
	function convert.integer(field, v)
		local n = math.tointeger(tonumber(v.value));
		if not n then return nil, ("%s %q is not a whole number"):format(field.lync, v.value); end
		return n;
	end
	function convert.domain_list(field, v)
		if v.kind == "list" then return v.value; end
		local text = trim(v.value);
		if text:match("^System%.%S+$") or text:match("^Microsoft%.%S+$") then
			return nil, ("%s is the type name %q, not the domains (Export-Csv writes a list that way): "
				.. "export with %s"):format(field.lync, text, EXPORT_COMMAND);
		end
		text = text:gsub("^{(.*)}$", "%1"); -- Format-List's {a, b}
		if text:match("%.%.%.$") or text:match("…$") then
			return nil, ("%s is cut short (Format-List shows $FormatEnumerationLimit items): export with %s")
				:format(field.lync, EXPORT_COMMAND);
		end
		local list = {};
		for domain in text:gmatch("[^;,%s]+") do list[#list + 1] = domain; end
		return list;
	end
	local function as_text(_, v) return trim(v.value); end
	convert.domain, convert.string, convert.hostport = as_text, as_text, as_text;

	-- A row's properties by Lync name (lower case), noting columns that are no partner property.
	local function properties(row, ignored, notes)
		local props = {};
		for _, f in ipairs(row.fields) do
			local key = f.name:lower();
			if by_property[key] or key == "identity" then
				if f.kind ~= "null" and not (type(f.value) == "string" and trim(f.value) == "") then
					props[key] = f;
				end
			elseif not ignored[key] then
				ignored[key] = true;
				notes[#notes + 1] = { line = row.line, text = ("%q ignored: not a partner property"):format(f.name) };
			end
		end
		return props;
	end

	-- The record of one row, or nil, err. defaulted[property] = first line given Lync's default.
	local function record_of(row, props, defaulted)
		local record = {};
		for _, field in ipairs(fields) do
			local v = props[field.lync:lower()];
			if not v and LYNC_DEFAULTS[field.lync] then
				v = { value = LYNC_DEFAULTS[field.lync], kind = "string" };
				defaulted[field.lync] = defaulted[field.lync] or row.line;
			end
			if field.name == "domain" and not v and props.identity and props.identity.kind == "string" then
				v = props.identity;
			end
			if v then
				if v.kind == "object" then return nil, ("%s is not a value but an object"):format(field.lync); end
				local value, err = convert[field.type](field, v);
				if value == nil then return nil, err; end
				record[field.name] = value;
			end
		end
		if not record.domain then return nil, "no Domain (nor Identity)"; end
		return record;
	end

	-- Compile the candidates; each refused record is reported at its line and left out, until
	-- the rest compiles. Returns the compiled list's warnings.
	local function validate(candidates, errors)
		while #candidates > 0 do
			local list = {};
			for i, c in ipairs(candidates) do list[i] = c.record; end
			local policy, warnings, detail = core.compile(list);
			if policy then return warnings, candidates; end
			local bad = detail and detail.index and candidates[detail.index];
			if not bad then
				errors[#errors + 1] = { line = 0, text = warnings };
				return {}, {};
			end
			errors[#errors + 1] = { line = bad.line,
				text = ("%s: %s"):format(tostring(bad.record.domain), detail.message or warnings) };
			table.remove(candidates, detail.index);
		end
		return {}, candidates;
	end

	local function import(text, format)
		local parsed, err = core.lync_parse(text, format);
		if not parsed then return nil, err; end
		local result = { format = parsed.format, encoding = parsed.encoding, records = {}, lines = {},
			notes = parsed.notes, warnings = {}, errors = {} };
		local ignored, candidates, defaulted = {}, {}, {};
		for _, row in ipairs(parsed.rows) do
			local props = properties(row, ignored, result.notes);
			local record, why = record_of(row, props, defaulted);
			if record then
				candidates[#candidates + 1] = { line = row.line, record = record };
			else
				result.errors[#result.errors + 1] = { line = row.line, text = why };
			end
		end
		for _, field in ipairs(fields) do
			local line = defaulted[field.lync];
			if line then
				result.notes[#result.notes + 1] = { line = line,
					text = ("%s not given (first here): Lync's default %s used"):format(field.lync, LYNC_DEFAULTS[field.lync]) };
			end
		end
		local warnings, valid = validate(candidates, result.errors);
		for i, c in ipairs(valid) do result.records[i], result.lines[i] = c.record, c.line; end
		for _, w in ipairs(warnings) do
			result.warnings[#result.warnings + 1] = { line = result.lines[w.index] or 0,
				text = ("%s: %s"):format(w.domain, w.message) };
		end
		table.sort(result.errors, function (a, b) return a.line < b.line; end);
		return result;
	end

	return { import = import, EXPORT_COMMAND = EXPORT_COMMAND, LYNC_DEFAULTS = LYNC_DEFAULTS };
end
