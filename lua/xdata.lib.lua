-- XEP-0004 data forms for the partner record, built from the C core's schema (README
-- "Administration"): the typed fields of the add / edit form (list-single for enums, boolean,
-- text-multi for domain lists and pins, text-single otherwise), reading a submitted form back
-- into record values, and result tables with <reported/> columns and one <item/> per row.

local st = require "util.stanza";
local dataforms_new = require "util.dataforms".new;

local xmlns_data = "jabber:x:data";
local FORM_TYPE = "urn:xmpp:s2s-partners:0";

local function lines_of(text)
	local out = {};
	for line in tostring(text or ""):gmatch("[^\r\n]+") do
		line = line:match("^%s*(.-)%s*$");
		if line ~= "" then out[#out + 1] = line; end
	end
	return out;
end

return function (core)
	local xdata = { FORM_TYPE = FORM_TYPE };
	local schema = core.schema();

	local function is_list(field) return field.type == "domain_list" or field.type == "pin_list"; end

	-- One form field for a schema field; `display` adds what only clients need (validation hints).
	local function form_field(field, display)
		local f = { name = field.name, label = field.label, desc = field.description, required = field.required };
		if field.type == "enum" then
			f.type, f.options = "list-single", {};
			for i, v in ipairs(field.values) do f.options[i] = { label = v, value = v }; end
		elseif field.type == "boolean" then
			f.type = "boolean";
		elseif is_list(field) then
			f.type = "text-multi";
		else
			f.type = "text-single";
			if display and field.type == "integer" then f.datatype, f.range_min = "xs:integer", field.min; end
		end
		return f;
	end

	local function layout(title, instructions, display, extra)
		local fields = { title = title, instructions = instructions,
			{ name = "FORM_TYPE", type = "hidden", value = FORM_TYPE } };
		for _, field in ipairs(schema) do fields[#fields + 1] = form_field(field, display); end
		for _, f in ipairs(extra or {}) do fields[#fields + 1] = f; end
		return dataforms_new(fields);
	end

	--- The add / edit form (to send), and the same fields without client hints (to read back:
	-- an empty connection_limit clears it instead of failing an integer check).
	xdata.record_form = layout("Add or edit a federation partner",
		"Fields you leave as shown keep their values; an emptied field goes back to its default.", true);
	xdata.record_reader = layout(nil, nil, false);
	--- One partner, every field, then what the core derived from them (a result form).
	xdata.show_form = layout("Federation partner", nil, false, {
		{ name = "origin", type = "text-single", label = "Origin (config or runtime)" },
		{ name = "class", type = "text-single", label = "Class" },
		{ name = "message", type = "text-single", label = "Message" },
		{ name = "methods", type = "text-multi", label = "Allowed methods" },
	});

	--- Form values for a record or compiled partner (lists as lines).
	function xdata.values(record)
		local values = {};
		for _, field in ipairs(schema) do
			local v = record[field.name];
			if is_list(field) and type(v) == "table" then v = table.concat(v, "\n"); end
			values[field.name] = v;
		end
		return values;
	end

	--- The schema's defaults as form values, for a new partner.
	function xdata.defaults(domain)
		local values = {};
		for _, field in ipairs(schema) do values[field.name] = field.default; end
		values.domain = domain;
		return xdata.values(values);
	end

	--- A submitted field's value as a record value; `unset` when it was emptied.
	function xdata.record_value(field, raw, unset)
		if field.type == "boolean" or field.type == "enum" then return raw == nil and unset or raw; end
		if is_list(field) then
			local list = lines_of(raw);
			return #list > 0 and list or unset;
		end
		if raw == nil or raw == "" then return unset; end
		if field.type == "integer" then return math.tointeger(tonumber(raw)) or raw; end -- else the validator names it
		return raw;
	end

	xdata.schema = schema;

	--- A result form: a title, <reported/> columns ({ key, title }) and one <item/> per row.
	function xdata.table(title, columns, rows)
		local x = st.stanza("x", { xmlns = xmlns_data, type = "result" });
		x:text_tag("title", title);
		x:tag("reported");
		for _, c in ipairs(columns) do x:tag("field", { var = c.key, label = c.title, type = "text-single" }):up(); end
		x:up();
		for _, row in ipairs(rows) do
			x:tag("item");
			for _, c in ipairs(columns) do
				local v = row[c.key];
				x:tag("field", { var = c.key }):text_tag("value", v ~= nil and tostring(v) or ""):up();
			end
			x:up();
		end
		return x;
	end

	--- A one-field form asking for a domain (or another single value).
	function xdata.ask(title, name, label, required, value)
		return dataforms_new{ title = title, { name = "FORM_TYPE", type = "hidden", value = FORM_TYPE },
			{ name = name, type = "text-single", label = label, required = required, value = value } };
	end

	return xdata;
end
