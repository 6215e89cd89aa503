// The web panel in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core),
// one phase per run, for spec/integration/web_spec.lua, which checks the s2s side between phases
// with real servers (README "Web panel and JSON API").
//
//   node spec/browser/panel.js PHASE   (PHASE: create, invalid, fix, probe, remove, security)
//
// Environment: S2SP_WEB_HOST (the VirtualHost, e.g. a.test), S2SP_WEB_ADDR (its 127.0.0.x),
// S2SP_WEB_PORT (HTTPS), S2SP_WEB_PEER (the partner domain to add), S2SP_WEB_RESULTS (where
// screenshots go), S2SP_WEB_ADMIN / S2SP_WEB_USER ("jid:password" of an admin and of a plain user).
// Prints "ok PHASE" and exits 0, or prints the failure and exits 1; the browser is closed either
// way (also on SIGTERM from the spec's time bound). Every wait is one of playwright's, bounded by
// TIMEOUT; there are no fixed sleeps.
"use strict";
const assert = require("assert");
const path = require("path");
const { chromium } = require("playwright-core");

const TIMEOUT = 30000;
const env = (name) => {
	const v = process.env[name];
	if (!v) { throw new Error("missing environment variable " + name); }
	return v;
};
const HOST = env("S2SP_WEB_HOST");
const PEER = env("S2SP_WEB_PEER");
const BASE = `https://${HOST}:${env("S2SP_WEB_PORT")}/s2s_partners/`;
const RESULTS = env("S2SP_WEB_RESULTS");
const account = (name) => { const [jid, password] = env(name).split(":"); return { jid, password }; };
const XSS = "<script>window.__s2sp_xss = 1</script> <b>Contoso</b> & co";

let browser;
async function closeBrowser() {
	if (browser) { const b = browser; browser = undefined; await b.close().catch(() => {}); }
}
for (const signal of ["SIGTERM", "SIGINT"]) {
	process.on(signal, () => { closeBrowser().finally(() => process.exit(1)); });
}

async function login(page, who) {
	await page.goto(BASE);
	await page.getByLabel("Account").fill(who.jid);
	await page.getByLabel("Password").fill(who.password);
	await page.getByRole("button", { name: "Log in" }).click();
}

async function loginAdmin(page) {
	await login(page, account("S2SP_WEB_ADMIN"));
	await page.getByRole("heading", { name: "XMPP federated partners" }).waitFor();
}

// A request from the page itself (Chromium's network stack and resolver, the page's cookies):
// { status, text, json }. `form`: an object sent as application/x-www-form-urlencoded.
async function fetchIn(page, method, url, opts = {}) {
	return page.evaluate(async ({ method, url, opts }) => {
		const init = { method, headers: Object.assign({}, opts.headers), credentials: "same-origin" };
		if (opts.form) {
			init.body = new URLSearchParams(opts.form).toString();
			init.headers["Content-Type"] = "application/x-www-form-urlencoded";
		} else if (opts.json !== undefined) {
			init.body = JSON.stringify(opts.json);
			init.headers["Content-Type"] = "application/json";
		}
		const r = await fetch(url, init);
		const text = await r.text();
		let json = null;
		try { json = JSON.parse(text); } catch (e) { json = null; }
		return { status: r.status, text, json };
	}, { method, url, opts });
}

// The partner's stored record through the JSON API, with the page's session cookie.
async function stored(page) {
	return fetchIn(page, "GET", BASE + "api/partners/" + PEER);
}

const combination = (page) => page.locator("#combination");

// The partner's edit form with some choices made: { field: option value }.
async function editForm(page, choices) {
	await loginAdmin(page);
	await page.goto(BASE + "edit/" + PEER);
	for (const [field, value] of Object.entries(choices)) { await page.locator("#f-" + field).selectOption(value); }
}

const phases = {
	// The refused unlisted peer appears with "Add as partner"; the form is pre-filled from it.
	async create(page) {
		await loginAdmin(page);
		const refusedRow = page.locator("section[aria-labelledby=unlisted] tr", { hasText: PEER });
		await refusedRow.first().waitFor();
		await page.screenshot({ path: path.join(RESULTS, "web-list-before.png"), fullPage: true });
		await refusedRow.first().getByRole("link", { name: "Add as partner" }).click();
		await page.getByRole("heading", { name: "New partner" }).waitFor();
		assert.strictEqual(await page.locator("#f-domain").inputValue(), PEER);
		await page.locator("#f-description").fill(XSS);
		await page.locator("#f-type").selectOption("federated");
		// Valid but useless with a peer that requires TLS: dialback without TLS only.
		await page.locator("#f-tls").selectOption("not_supported");
		await combination(page).filter({ hasText: "Allowed methods: dialback without TLS." }).waitFor();
		await page.getByRole("button", { name: "Commit" }).click();
		await page.getByRole("heading", { name: "Partner " + PEER }).waitFor();
		await page.getByText("Saved: " + PEER).waitFor();
		// The description is text, never markup.
		await page.getByRole("cell", { name: XSS, exact: true }).waitFor();
		assert.strictEqual(await page.evaluate(() => window.__s2sp_xss), undefined);
		assert.strictEqual(await page.locator("main b").count(), 0);
		const s = await stored(page);
		assert.strictEqual(s.json.tls, "not_supported");
		assert.strictEqual(s.json.description, XSS);
	},

	// An invalid combination: the class and methods change as the fields do, and the validator's
	// message is shown next to the fields after Commit; the stored partner is unchanged.
	async invalid(page) {
		await editForm(page, { sasl: "required", dialback: "false" });
		await combination(page).filter({ hasText: "Allowed methods: none. Class: invalid" }).waitFor();
		await page.getByRole("button", { name: "Commit" }).click();
		const error = page.locator("#combination-error");
		await error.filter({ hasText: "SASL requires TLS" }).waitFor();
		assert.match(await error.innerText(), /The changes have not been saved\./);
		assert.strictEqual(await page.locator("#f-tls").getAttribute("aria-invalid"), "true");
		// Without JavaScript's help the server wrote the class of the submitted values.
		assert.match(await combination(page).innerText(), /Class: invalid/);
		await page.screenshot({ path: path.join(RESULTS, "web-edit-error.png"), fullPage: true });
		const s = await stored(page);
		assert.strictEqual(s.json.tls, "not_supported");
		assert.strictEqual(s.json.sasl, "optional");
		assert.strictEqual(s.json.dialback, true);
	},

	// Back to the defaults (tls required): what the peer can do.
	async fix(page) {
		await editForm(page, { tls: "" });
		await combination(page).filter({ hasText: "Allowed methods: SASL EXTERNAL over TLS, dialback over TLS. Class: valid" }).waitFor();
		await page.getByRole("button", { name: "Commit" }).click();
		await page.getByText("Saved: " + PEER).waitFor();
		const s = await stored(page);
		assert.strictEqual(s.json.tls, "required");
		assert.ok(!s.json.set.includes("tls"), "tls follows its default again");
		assert.strictEqual(s.json.description, XSS, "the description was kept");
	},

	// The partner's page shows the stream the spec opened, then the live probe's report.
	async probe(page) {
		await loginAdmin(page);
		await page.locator("main tr", { hasText: PEER }).first().locator(".badge", { hasText: "up:" }).waitFor();
		await page.screenshot({ path: path.join(RESULTS, "web-list.png"), fullPage: true });
		await page.goto(BASE + "partner/" + PEER);
		await page.getByRole("heading", { name: /Streams up now \([1-9]/ }).waitFor();
		await page.getByRole("button", { name: "Probe now" }).click();
		await page.getByRole("heading", { name: "Probe of " + PEER }).waitFor();
		await page.locator(".probe-report").getByRole("rowheader", { name: "verdict", exact: true }).waitFor();
		await page.screenshot({ path: path.join(RESULTS, "web-probe.png"), fullPage: true });
	},

	// Remove, after a confirmation page.
	async remove(page) {
		await loginAdmin(page);
		await page.locator("main tr", { hasText: PEER }).first().getByRole("link", { name: "Remove" }).click();
		await page.getByRole("heading", { name: "Remove " + PEER }).waitFor();
		await page.getByRole("button", { name: "Remove " + PEER }).click();
		await page.getByText("Removed " + PEER).waitFor();
		assert.strictEqual((await stored(page)).status, 404);
		await page.goto(BASE + "audit");
		await page.locator("tbody tr").first().filter({ hasText: "remove" }).waitFor();
		assert.match(await page.locator("tbody tr").first().innerText(), new RegExp(account("S2SP_WEB_ADMIN").jid));
	},

	// A user who may not manage partners learns nothing; a form without the CSRF token and an
	// API request without X-CSRF-Token change nothing; plain HTTP gives no data.
	async security(page) {
		const user = account("S2SP_WEB_USER");
		await login(page, user);
		await page.getByText(`${user.jid} may not view the federation partners of ${HOST}`).waitFor();
		assert.strictEqual(await page.getByText(PEER).count(), 0);
		assert.strictEqual((await fetchIn(page, "GET", BASE + "api/partners")).status, 401);
		await page.goto(BASE + "partner/" + PEER);
		await page.getByRole("heading", { name: "Log in" }).waitFor();

		await loginAdmin(page);
		const form = await fetchIn(page, "POST", BASE + "save", { form: { domain: PEER, type: "federated" } });
		assert.strictEqual(form.status, 403);
		assert.match(form.text, /CSRF/);
		const api = await fetchIn(page, "PUT", BASE + "api/partners/" + PEER, { json: { type: "federated" } });
		assert.strictEqual(api.status, 403);
		assert.strictEqual((await stored(page)).status, 404, "nothing was created");
		// With the token, the same API request works (so the refusals above were the token's).
		const session = (await fetchIn(page, "GET", BASE + "api/session")).json;
		const ok = await fetchIn(page, "PUT", BASE + "api/partners/" + PEER, { json: { type: "federated" },
			headers: { "X-CSRF-Token": session.csrf } });
		assert.strictEqual(ok.status, 201);
		assert.strictEqual((await fetchIn(page, "DELETE", BASE + "api/partners/" + PEER,
			{ headers: { "X-CSRF-Token": session.csrf } })).status, 200);
		// The Content-Security-Policy of every page forbids inline script.
		const response = await page.goto(BASE);
		assert.match(response.headers()["content-security-policy"], /script-src 'self'/);
	},
};

async function main() {
	const phase = process.argv[2];
	if (!phases[phase]) { throw new Error("unknown phase " + phase + " (" + Object.keys(phases).join(", ") + ")"); }
	browser = await chromium.launch({
		executablePath: "/usr/bin/chromium",
		timeout: TIMEOUT,
		// As root there is no sandbox; the host name resolves to the server's loopback address.
		args: ["--no-sandbox", `--host-resolver-rules=MAP ${HOST} ${env("S2SP_WEB_ADDR")}`],
	});
	// The server's certificate is from the harness's test CA (the Lua specs verify it).
	const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
	context.setDefaultTimeout(TIMEOUT);
	const page = await context.newPage();
	const errors = [];
	page.on("pageerror", (e) => errors.push(e.message));
	// Console errors are CSP violations and script errors; an HTTP status the test asked for
	// (a 400 for an invalid record, the favicon's 404) is reported as "Failed to load resource".
	page.on("console", (m) => {
		if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) { errors.push(m.text()); }
	});
	try {
		await phases[phase](page);
		assert.deepStrictEqual(errors, [], "no script errors or CSP violations in the pages");
	} catch (e) {
		await page.screenshot({ path: path.join(RESULTS, `web-failed-${phase}.png`), fullPage: true }).catch(() => {});
		throw e;
	}
	console.log("ok " + phase);
}

main().then(closeBrowser, async (e) => {
	console.error("FAILED: " + (e && e.stack || e));
	await closeBrowser();
	process.exitCode = 1;
});
