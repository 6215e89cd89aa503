// mod_s2s_partners web panel (README "Web panel and JSON API"): on the partner form, the allowed
// methods and the class of the current tls / sasl / dialback choice (README "Negotiation matrix"),
// updated as they change, from the C core's matrix and schema (GET api/schema). The server writes
// the same text into the page, so the form is complete without this script.
"use strict";
(function () {
	var out = document.getElementById("combination");
	if (!out || !window.fetch) { return; }
	var base = document.body.getAttribute("data-base");
	var names = ["tls", "sasl", "dialback"];
	var inputs = names.map(function (n) { return document.getElementById("f-" + n); });
	fetch(base + "api/schema", { credentials: "same-origin", headers: { Accept: "application/json" } })
		.then(function (r) { return r.ok ? r.json() : null; })
		.then(function (schema) {
			if (!schema) { return; }
			var defaults = {}, labels = {};
			schema.fields.forEach(function (f) { defaults[f.name] = f["default"]; });
			schema.methods.forEach(function (m) { labels[m.name] = m.label; });
			function current(i) {
				var v = inputs[i].value;
				if (v === "") { return defaults[names[i]]; }
				return names[i] === "dialback" ? v === "true" : v;
			}
			function update() {
				var tls = current(0), sasl = current(1), dialback = current(2);
				var row = schema.matrix.filter(function (m) {
					return m.tls === tls && m.sasl === sasl && m.dialback === dialback;
				})[0];
				if (!row) { return; }
				var methods = row.methods.map(function (m) { return labels[m]; });
				out.textContent = "Allowed methods: " + (methods.length ? methods.join(", ") : "none") +
					". Class: " + row["class"] + (row.message ? " \u2014 " + row.message : "");
				out.className = "combination " + row["class"];
			}
			inputs.forEach(function (el) { if (el) { el.addEventListener("change", update); } });
			update();
		})
		.catch(function () { /* keep the server's text */ });
}());
