-- The web panel's add / edit form (README "Web panel and JSON API"), built from the C core's
-- schema: a <select> with a "(default: …)" choice for enums and booleans, a textarea (one per
-- line) for domain lists and pins, a number for integers, text for the rest; each with its
-- label, description and error. Reading a submission back follows README "Edits merge, never
-- drop", as the ad-hoc form does: a field left on "(default)" or emptied is not stored (and is
-- removed if it was), a stored field left as it was is not touched, so untouched defaults keep
-- following the defaults (auto_approve follows type).

local html = module:require("html");
local el = html.el;

return function (core, render)
	local schema = core.schema();
	local form = {};
	local label_of = {};
	for _, m in ipairs(core.methods()) do label_of[m.name] = m.label; end

	local function is_list(field) return field.type == "domain_list" or field.type == "pin_list"; end
	-- The schema's default as a reader wants it ("" and {} are the README's notation for empty).
	local function default_words(field)
		local text = field.default_text;
		if text == '""' or text == "{}" then return "empty"; end
		return (text:gsub('"', ""));
	end

	--- "class: message" and the allowed methods of a tls / sasl / dialback combination
	-- (README "Negotiation matrix"); the same words as web/panel.js writes from GET api/schema.
	function form.combination(tls, sasl, dialback)
		local ok, class, methods, message = pcall(core.classify, tls, sasl, dialback);
		if not ok then return nil; end
		local labels = {};
		for i, name in ipairs(methods) do labels[i] = label_of[name]; end
		return { class = class, text = ("Allowed methods: %s. Class: %s%s"):format(#labels > 0 and table.concat(labels, ", ") or "none",
			class, message and (" — " .. message) or "") };
	end

	-- A value as the form shows it: lists one per line, booleans and numbers as text.
	local function shown(field, v)
		if v == nil then return ""; end
		if is_list(field) and type(v) == "table" then return table.concat(v, "\n"); end
		return tostring(v);
	end

	local function input(field, id, value, described, invalid, editable_domain)
		local common = { id = id, name = field.name, ["aria-describedby"] = described, ["aria-invalid"] = invalid and "true" or nil };
		if field.type == "enum" or field.type == "boolean" then
			local values = field.type == "boolean" and { "true", "false" } or field.values;
			local default = field.default ~= nil and tostring(field.default) or field.default_text;
			local options = { el("option", { value = "", selected = value == "" }, "(default: " .. default .. ")") };
			for _, v in ipairs(values) do options[#options + 1] = el("option", { value = v, selected = value == v }, v); end
			return el("select", common, options);
		elseif is_list(field) then
			common.rows = 3;
			return el("textarea", common, value);
		end
		common.value = value;
		if field.required then
			common.required, common.readonly = true, not editable_domain or nil;
			common.autocapitalize, common.spellcheck = "none", "false";
		end
		if field.type == "integer" then
			common.type, common.min, common.inputmode = "number", field.min, "numeric";
		else
			common.type = "text";
		end
		common.placeholder = not field.required and default_words(field) ~= "empty" and default_words(field) or nil;
		return el("input", common);
	end

	--- The form. opts: { base, csrf, values = { name = text }, errors = { name = message or true
	-- (marked invalid, the message is combination_error) }, new = true (the domain may be typed),
	-- combination = form.combination(...), combination_error = text, error = text }
	function form.render(opts)
		local values, errors = opts.values or {}, opts.errors or {};
		local rows = {};
		for _, field in ipairs(schema) do
			local id = "f-" .. field.name;
			local help = id .. "-help";
			local err = errors[field.name];
			local described = help .. (type(err) == "string" and (" " .. id .. "-error") or "")
				.. ((err == true) and " combination-error" or "");
			rows[#rows + 1] = el("div", { class = "field" .. (err and " has-error" or "") },
				el("label", { ["for"] = id }, field.label, el("code", nil, field.name)),
				input(field, id, values[field.name] or "", described, err, opts.new),
				el("p", { id = help, class = "help" }, field.description,
					not field.required and (" Default: " .. default_words(field) .. ".") or nil),
				type(err) == "string" and el("p", { id = id .. "-error", class = "error", role = "alert" }, err));
			if field.name == "dialback" then
				local c = opts.combination;
				rows[#rows + 1] = el("p", { id = "combination", class = "combination " .. (c and c.class or ""),
					["aria-live"] = "polite" }, c and c.text or "");
				if opts.combination_error then
					rows[#rows + 1] = el("p", { id = "combination-error", class = "error", role = "alert" }, opts.combination_error);
				end
			end
		end
		return el("form", { method = "post", action = opts.base .. "save", class = "partner", novalidate = true },
			el("input", { type = "hidden", name = "csrf", value = opts.csrf }),
			opts.error and el("div", { class = "notice error", role = "alert" }, opts.error),
			rows,
			el("p", { class = "actions" }, el("button", { type = "submit" }, "Commit"), " ",
				el("a", { href = opts.base }, "Cancel")));
	end

	--- Form values of a runtime record: what it stores (the rest shows "(default)").
	function form.values(record)
		local values = {};
		for _, field in ipairs(schema) do values[field.name] = shown(field, record and record[field.name]); end
		return values;
	end

	-- A submitted text as a record value (nil: back to the default).
	local function value_of(field, text)
		if text == nil or text:match("^%s*$") then return nil; end
		if field.type == "boolean" then
			if text == "true" then return true; elseif text == "false" then return false; end
			return text; -- the validator names it
		elseif is_list(field) then
			local list = {};
			for line in text:gmatch("[^\r\n]+") do
				line = line:match("^%s*(.-)%s*$");
				if line ~= "" then list[#list + 1] = line; end
			end
			return list;
		elseif field.type == "integer" then
			return math.tointeger(tonumber(text)) or text;
		end
		return text;
	end

	--- The record changes of a submission (`fields`: the decoded form) against the stored runtime
	-- record (nil for a new partner), with `unset` for removed fields; and the submitted texts.
	function form.changes(domain, fields, stored, unset)
		local changes, texts = { domain = domain }, { domain = domain };
		for _, field in ipairs(schema) do
			local name = field.name;
			if not field.required then
				local text = fields[name];
				texts[name] = text or "";
				local value = value_of(field, text);
				local was = stored and stored[name];
				if value == nil then
					if was ~= nil then changes[name] = unset; end
				elseif was == nil or render.value_text(was) ~= render.value_text(value) then
					changes[name] = value;
				end
			end
		end
		return changes, texts;
	end

	--- The effective tls / sasl / dialback of a submission (an empty choice: the default).
	function form.effective(fields)
		local out = {};
		for _, field in ipairs(schema) do
			if field.name == "tls" or field.name == "sasl" or field.name == "dialback" then
				local v = value_of(field, fields[field.name]);
				if v == nil then v = field.default; end
				out[field.name] = v;
			end
		end
		return form.combination(out.tls, out.sasl, out.dialback);
	end

	return form;
end
