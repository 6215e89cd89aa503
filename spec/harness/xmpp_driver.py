#!/usr/bin/python3
"""XMPP client driver for the mod_s2s_partners integration harness.

A long-lived slixmpp (1.8) process holding any number of client accounts.
Commands arrive as JSON lines on stdin:  {"seq": 1, "op": "login", ...}
Answers are JSON lines appended to the --out file:
    {"seq": 1, "ok": true, "result": ...}   or   {"seq": 1, "ok": false, "error": "..."}
Operations that wait (expect, iq, login, roster_get) time out in the driver
and answer {"ok": false, "error": "timeout"}; the Lua side waits a little
longer than that. EOF on stdin (the test process went away) ends the driver.

Every stanza an account receives is recorded in its inbox; `expect` looks at
the inbox first and then waits, so the order of "send" and "expect" does not
matter. Matching stanzas are consumed.

Run with /usr/bin/python3 (Debian's slixmpp lives in its dist-packages).
"""

import argparse
import asyncio
import json
import logging
import ssl
import sys
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins.xep_0004.stanza import Form
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

NS_CLIENT = "jabber:client"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_ROSTER = "jabber:iq:roster"

log = logging.getLogger("xmpp_driver")


def bare(jid):
    return (jid or "").split("/", 1)[0]


def jid_matches(want, got):
    """A filter JID without resource matches any resource of that bare JID."""
    if want is None:
        return True
    got = got or ""
    if "/" in want:
        return want == got
    return want == bare(got)


def parse_error(elem):
    err = elem.find("{%s}error" % NS_CLIENT)
    if err is None:
        return None
    condition, text = None, None
    for child in err:
        if child.tag == "{%s}text" % NS_STANZAS:
            text = child.text or ""
        elif child.tag.startswith("{%s}" % NS_STANZAS) and condition is None:
            condition = child.tag.split("}", 1)[1]
    return {"condition": condition, "text": text, "type": err.get("type"), "by": err.get("by")}


def child_text(elem, name):
    c = elem.find("{%s}%s" % (NS_CLIENT, name))
    if c is None:
        return None
    return c.text or ""


def record_of(kind, stanza):
    """A JSON-able description of a stanza (slixmpp-independent: read from the XML)."""
    elem = stanza.xml
    default_type = {"message": "normal", "presence": "available", "iq": None}[kind]
    rec = {
        "kind": kind,
        "type": elem.get("type") or default_type,
        "from": elem.get("from") or "",
        "to": elem.get("to") or "",
        "id": elem.get("id"),
        "xml": str(stanza),
    }
    if kind == "message":
        rec["body"] = child_text(elem, "body")
    elif kind == "presence":
        rec["status"] = child_text(elem, "status")
        rec["show"] = child_text(elem, "show")
    if rec["type"] == "error":
        rec["error"] = parse_error(elem)
    if kind == "iq":
        query = elem.find("{%s}query" % NS_ROSTER)
        if query is not None:  # a roster push (or result): its items
            rec["roster_items"] = [{
                "jid": item.get("jid"),
                "subscription": item.get("subscription") or "none",
                "ask": item.get("ask"),
            } for item in query.findall("{%s}item" % NS_ROSTER)]
    return rec


def form_of(form):
    """A data form (XEP-0004) as JSON: fields in order with type, label, options and values,
    and for result tables the reported columns and items."""
    def field_of(field):
        return {
            "var": field["var"], "type": field["type"], "label": field["label"] or None,
            "required": bool(field["required"]),
            "options": [o["value"] for o in field["options"]],
            "values": [v.text or "" for v in field.xml.findall("{jabber:x:data}value")],
        }
    return {
        "type": form["type"], "title": form["title"] or None,
        "fields": [field_of(f) for f in form["substanzas"] if f.name == "field"],
        "reported": [field["var"] for field in form.get_reported().values()],
        "items": form.get_items(),
    }


def matches(f, rec):
    if f.get("kind") and f["kind"] != rec["kind"]:
        return False
    if f.get("type") and f["type"] != rec["type"]:
        return False
    if f.get("not_type") and f["not_type"] == rec["type"]:
        return False
    if not jid_matches(f.get("from"), rec["from"]):
        return False
    if f.get("id") and f["id"] != rec.get("id"):
        return False
    if f.get("body") is not None and f["body"] != rec.get("body"):
        return False
    if f.get("body_contains") is not None and f["body_contains"] not in (rec.get("body") or ""):
        return False
    if f.get("status") is not None and f["status"] != rec.get("status"):
        return False
    if f.get("roster_jid") is not None and not any(
            i["jid"] == f["roster_jid"] for i in rec.get("roster_items") or []):
        return False
    return True


class Account(slixmpp.ClientXMPP):
    def __init__(self, jid, password, host, port, ca_file=None, insecure=False):
        super().__init__(jid, password)
        self.target_host, self.target_port = host, int(port)
        self.inbox = []
        self.waiters = []  # [filter, future]
        self.own_iq_ids = set()  # ids of our requests: their answers go to the "iq" op
        # Never answer subscription requests by ourselves: tests decide.
        self.auto_authorize = None
        self.auto_subscribe = False
        # slixmpp 1.8 leaves default_domain empty when connect() is given an IP
        # address, and then passes server_hostname="" to TLS: the chain is
        # verified but the certificate's name never is. Name the domain.
        self.default_domain = self.boundjid.host
        if insecure:
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        elif ca_file:
            self.ca_certs = ca_file
        for plugin in ("xep_0030", "xep_0004", "xep_0050", "xep_0092", "xep_0199"):
            self.register_plugin(plugin)
        self["xep_0092"].software_name = "s2sp-harness"
        self["xep_0092"].version = "1"
        for kind in ("message", "presence", "iq"):
            self.register_handler(Callback(
                "harness-record-" + kind,
                MatchXPath("{%s}%s" % (NS_CLIENT, kind)),
                lambda st, kind=kind: self.record(kind, st)))

    async def get_dns_records(self, domain, port=None):
        # Never resolve anything: the harness tells us where the server is.
        return [(domain, self.target_host, self.target_port)]

    def record(self, kind, stanza):
        if kind == "iq" and stanza.xml.get("type") in ("result", "error") and stanza.xml.get("id") in self.own_iq_ids:
            return  # answers to our own requests are returned by the "iq" op
        rec = record_of(kind, stanza)
        log.debug("recorded %s", rec["xml"])
        for w in list(self.waiters):
            f, fut = w
            if not fut.done() and matches(f, rec):
                self.waiters.remove(w)
                fut.set_result(rec)
                return
        self.inbox.append(rec)

    def take(self, f):
        for i, rec in enumerate(self.inbox):
            if matches(f, rec):
                return self.inbox.pop(i)
        return None

    async def wait_for(self, f, timeout):
        rec = self.take(f)
        if rec is not None:
            return rec
        fut = asyncio.get_event_loop().create_future()
        w = [f, fut]
        self.waiters.append(w)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            if w in self.waiters:
                self.waiters.remove(w)


class Driver:
    def __init__(self, out_path):
        self.out = open(out_path, "a", buffering=1, encoding="utf-8")
        self.accounts = {}
        self.tasks = set()
        self.done = asyncio.get_event_loop().create_future()

    def answer(self, seq, ok, value):
        msg = {"seq": seq, "ok": ok}
        msg["result" if ok else "error"] = value
        self.out.write(json.dumps(msg) + "\n")
        self.out.flush()

    def dispatch(self, line):
        line = line.strip()
        if not line:
            return
        try:
            cmd = json.loads(line)
        except ValueError as e:
            log.error("bad command %r: %s", line, e)
            return
        task = asyncio.ensure_future(self.run(cmd))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self, cmd):
        msg_id = cmd.get("seq")
        op = cmd.get("op")
        handler = getattr(self, "op_" + str(op), None)
        if handler is None:
            self.answer(msg_id, False, "unknown op %s" % op)
            return
        try:
            result = await handler(cmd)
            self.answer(msg_id, True, result)
        except asyncio.TimeoutError:
            self.answer(msg_id, False, "timeout")
        except Exception as e:  # report every failure to the test
            log.exception("op %s failed", op)
            self.answer(msg_id, False, "%s: %s" % (type(e).__name__, e))

    def account(self, cmd):
        name = cmd.get("account")
        acc = self.accounts.get(name)
        if acc is None:
            raise KeyError("no account %r logged in" % name)
        return acc

    # --- operations -------------------------------------------------------

    async def op_hello(self, cmd):
        return {"slixmpp": slixmpp.__version__}

    async def op_login(self, cmd):
        name = cmd.get("account") or cmd["jid"]
        if name in self.accounts:
            raise ValueError("account %s already logged in" % name)
        jid = cmd["jid"]
        if cmd.get("resource"):
            jid = bare(jid) + "/" + cmd["resource"]
        acc = Account(jid, cmd["password"], cmd["host"], cmd["port"],
                      ca_file=cmd.get("ca_file"), insecure=cmd.get("insecure", False))
        loop = asyncio.get_event_loop()
        started = loop.create_future()

        def ok(_event):
            if not started.done():
                started.set_result(True)

        def fail(reason):
            def handler(event):
                if not started.done():
                    started.set_exception(RuntimeError("%s: %s" % (reason, event)))
            return handler

        acc.add_event_handler("session_start", ok)
        acc.add_event_handler("failed_all_auth", fail("authentication failed"))
        acc.add_event_handler("connection_failed", fail("connection failed"))
        acc.add_event_handler("ssl_invalid_chain", fail("invalid certificate chain"))
        acc.add_event_handler("stream_error", fail("stream error"))
        acc.add_event_handler("disconnected", fail("disconnected"))
        acc.connect(address=(cmd["host"], int(cmd["port"])))
        try:
            await asyncio.wait_for(started, cmd.get("timeout", 10))
        except BaseException:
            acc.cancel_connection_attempt()
            acc.abort()
            raise
        self.accounts[name] = acc
        if cmd.get("roster", True):
            await self.roster_get(acc, cmd.get("timeout", 10))
        if cmd.get("presence", True):
            acc.send_presence()
        return {"jid": str(acc.boundjid)}

    async def op_logout(self, cmd):
        acc = self.account(cmd)
        del self.accounts[cmd["account"]]
        await self.disconnect(acc)
        return True

    async def disconnect(self, acc):
        try:
            await asyncio.wait_for(acc.disconnect(wait=1.0), 2)
        except Exception:
            acc.abort()

    async def op_quit(self, cmd):
        accs = list(self.accounts.values())
        self.accounts.clear()
        await asyncio.gather(*(self.disconnect(a) for a in accs), return_exceptions=True)
        loop = asyncio.get_event_loop()
        loop.call_later(0.05, lambda: self.done.done() or self.done.set_result(True))
        return True

    async def op_send_message(self, cmd):
        acc = self.account(cmd)
        msg = acc.make_message(mto=cmd["to"], mbody=cmd.get("body"), mtype=cmd.get("type") or "chat")
        if cmd.get("id"):
            msg["id"] = cmd["id"]
        msg.send()
        return {"id": msg["id"]}

    async def op_send_presence(self, cmd):
        acc = self.account(cmd)
        kwargs = {}
        if cmd.get("to"):
            kwargs["pto"] = cmd["to"]
        if cmd.get("type") and cmd["type"] != "available":
            kwargs["ptype"] = cmd["type"]
        if cmd.get("status") is not None:
            kwargs["pstatus"] = cmd["status"]
        if cmd.get("show"):
            kwargs["pshow"] = cmd["show"]
        if cmd.get("priority") is not None:
            kwargs["ppriority"] = cmd["priority"]
        acc.send_presence(**kwargs)
        return True

    async def op_send_raw(self, cmd):
        self.account(cmd).send_raw(cmd["xml"])
        return True

    async def op_expect(self, cmd):
        acc = self.account(cmd)
        return await acc.wait_for(cmd.get("filter") or {}, cmd.get("timeout", 5))

    async def op_expect_none(self, cmd):
        acc = self.account(cmd)
        try:
            rec = await acc.wait_for(cmd.get("filter") or {}, cmd.get("within", 1))
        except asyncio.TimeoutError:
            return True
        raise AssertionError("unexpected stanza: " + rec["xml"])

    async def op_received(self, cmd):
        acc = self.account(cmd)
        f = cmd.get("filter") or {}
        return [r for r in acc.inbox if matches(f, r)]

    async def op_clear(self, cmd):
        self.account(cmd).inbox.clear()
        return True

    async def send_iq(self, acc, iq, timeout):
        acc.own_iq_ids.add(iq["id"])
        try:
            reply = await iq.send(timeout=timeout)
            return record_of("iq", reply)
        except IqError as e:
            return record_of("iq", e.iq)
        except IqTimeout:
            raise asyncio.TimeoutError()

    async def op_iq(self, cmd):
        acc = self.account(cmd)
        iq = acc.Iq()
        iq["type"] = cmd.get("type") or "get"
        if cmd.get("to"):
            iq["to"] = cmd["to"]
        if cmd.get("payload"):
            iq.append(ET.fromstring(cmd["payload"]))
        return await self.send_iq(acc, iq, cmd.get("timeout", 5))

    async def op_command(self, cmd):
        """An ad-hoc command step (XEP-0050): the reply as slixmpp's XEP-0050 and XEP-0004
        stanza classes read it, so the forms are checked the way a client renders them."""
        acc = self.account(cmd)
        iq = acc.Iq()
        iq["type"] = "set"
        iq["to"] = cmd["to"]
        iq.append(ET.fromstring(cmd["payload"]))
        acc.own_iq_ids.add(iq["id"])
        try:
            reply = await iq.send(timeout=cmd.get("timeout", 5))
        except IqError as e:
            reply = e.iq
        except IqTimeout:
            raise asyncio.TimeoutError()
        rec = record_of("iq", reply)
        command = reply["command"]
        rec["status"] = command["status"] or None
        rec["sessionid"] = command["sessionid"] or None
        rec["actions"] = list(command["actions"])
        rec["notes"] = [{"type": t, "text": text} for t, text in command["notes"]]
        rec["forms"] = [form_of(Form(xml=x)) for x in command.xml.findall("{jabber:x:data}x")]
        return rec

    async def roster_get(self, acc, timeout):
        iq = acc.Iq()
        iq["type"] = "get"
        iq.append(ET.Element("{%s}query" % NS_ROSTER))
        rec = await self.send_iq(acc, iq, timeout)
        if rec["type"] != "result":
            raise RuntimeError("roster get failed: " + rec["xml"])
        items = []
        for item in ET.fromstring(rec["xml"]).iter("{%s}item" % NS_ROSTER):
            items.append({
                "jid": item.get("jid"),
                "name": item.get("name"),
                "subscription": item.get("subscription") or "none",
                "ask": item.get("ask"),
                "groups": [g.text or "" for g in item.findall("{%s}group" % NS_ROSTER)],
            })
        return {"items": items, "xml": rec["xml"]}

    async def op_roster_get(self, cmd):
        return await self.roster_get(self.account(cmd), cmd.get("timeout", 5))

    async def op_roster_set(self, cmd):
        acc = self.account(cmd)
        iq = acc.Iq()
        iq["type"] = "set"
        query = ET.Element("{%s}query" % NS_ROSTER)
        item = ET.SubElement(query, "{%s}item" % NS_ROSTER, {"jid": cmd["jid"]})
        if cmd.get("remove"):
            item.set("subscription", "remove")
        else:
            if cmd.get("name"):
                item.set("name", cmd["name"])
            for g in cmd.get("groups") or []:
                ET.SubElement(item, "{%s}group" % NS_ROSTER).text = g
        iq.append(query)
        rec = await self.send_iq(acc, iq, cmd.get("timeout", 5))
        if rec["type"] != "result":
            raise RuntimeError("roster set failed: " + rec["xml"])
        return True


async def main(args):
    loop = asyncio.get_event_loop()
    driver = Driver(args.out)
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def read_commands():
        while True:
            line = await reader.readline()
            if not line:
                break
            driver.dispatch(line.decode("utf-8"))
        if not driver.done.done():
            driver.done.set_result(True)

    asyncio.ensure_future(read_commands())
    await driver.done
    for acc in list(driver.accounts.values()):
        acc.abort()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--log-level", default="DEBUG")
    a = p.parse_args()
    logging.basicConfig(filename=a.log, level=getattr(logging, a.log_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main(a))
