#!/usr/bin/env python3
"""`make load`: N notifications across the four channels, C at a time, against a running
`make dev`. Reports the accept latency and the accepted→final time (from each record's own
history) as percentiles, and fails unless every accepted notification reached a final status
and none was sent twice (read from the local SES and SNS outboxes, the FCM stand-in and the
webhook receiver). The pass/fail is on correctness; the times are figures for the README.

Usage: scripts/load.py [-n 200] [-c 16] [--within 300]   (reads .dev/env, as make dev writes it)
Only loopback is ever called.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

FINAL = {"sent", "delivered", "failed", "suppressed", "cancelled", "expired"}


def env() -> dict[str, str]:
    path = Path(os.environ.get("NOTIFY_DEV_DIR", ".dev")) / "env"
    if not path.exists():
        sys.exit(f"{path} is missing: start `make dev` first (it writes it once the API answers)")
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs}


class Api:
    def __init__(self, e: dict[str, str]):
        self.url, self.key = e["NOTIFY_API_URL"], e["NOTIFY_API_KEY"]

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")


def get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def ts(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    v = sorted(values)
    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]
    return f"p50 {pick(0.5):.3f} s, p90 {pick(0.9):.3f} s, p99 {pick(0.99):.3f} s, max {v[-1]:.3f} s"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200, help="notifications to send")
    ap.add_argument("-c", type=int, default=16, help="concurrent senders")
    ap.add_argument("--within", type=float, default=300, help="seconds to wait for final statuses")
    args = ap.parse_args()
    e = env()
    api = Api(e)
    run = f"load{int(time.time())}"

    status, created = api.call("PUT", f"/v1/webhooks/endpoints/{run}", {"url": f"{e['NOTIFY_RECEIVER_URL']}/{run}"})
    if status not in (200, 201):
        sys.exit(f"could not register the webhook endpoint: {status} {created}")
    device = f"{run}-device"
    status, _ = api.call("PUT", f"/v1/users/{run}/devices/{device}", {"platform": "android"})
    if status not in (200, 201):
        sys.exit(f"could not register the device: {status}")

    def body(i: int) -> dict:
        kind = i % 4
        if kind == 0:
            return {"channel": "email", "to": f"{run}-{i}@example.com", "subject": f"Load {i}", "text": "t"}
        if kind == 1:
            # +3361 numbers of the numbering plan; never ending in 99 (the emulator's opt-outs).
            return {"channel": "sms", "to": f"+3361{i % 10_000_000:07d}".replace("99", "98"), "message": f"{run} {i}"}
        if kind == 2:
            return {"channel": "push", "token": device, "title": f"{run} {i}"}
        return {"channel": "webhook", "endpoint": run, "payload": {"run": run, "i": i}}

    def send(i: int):
        started = time.monotonic()
        status, answer = api.call("POST", "/v1/notifications", body(i))
        return i, status, answer, time.monotonic() - started

    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(args.c) as ex:
        results = list(ex.map(send, range(args.n)))
    accept_wall = time.monotonic() - t0
    accepted = {r[2]["id"]: r[0] for r in results if r[1] == 202}
    refused = [r for r in results if r[1] != 202]
    print(f"accepted {len(accepted)}/{args.n} in {accept_wall:.1f} s at {args.c} concurrent; accept latency {percentiles([r[3] for r in results])}")
    for r in refused[:5]:
        print(f"  refused: {r[1]} {r[2]}")

    views: dict[str, dict] = {}
    deadline = time.monotonic() + args.within
    pending = set(accepted)
    while pending and time.monotonic() < deadline:
        with cf.ThreadPoolExecutor(8) as ex:
            for nid, (st, view) in zip(list(pending), ex.map(lambda i: api.call("GET", f"/v1/notifications/{i}"), list(pending))):
                if st == 200 and view["status"] in FINAL:
                    views[nid] = view
                    pending.discard(nid)
        if pending:
            time.sleep(1)
    finals = collections.Counter(v["status"] for v in views.values())
    to_final = [ts(v["history"][-1]["at"]) - ts(v["createdAt"]) for v in views.values()]
    print(f"final: {dict(finals)}; {len(pending)} not final after {args.within:.0f} s; accepted→final {percentiles(to_final)}")

    # Sent twice? Count what each provider stand-in received for this run.
    emails = collections.Counter(t for m in get(f"{e['NOTIFY_EMULATOR_URL']}/_notify/outbox/email") for t in m["to"] if t.startswith(run))
    sms = collections.Counter(m["message"] for m in get(f"{e['NOTIFY_EMULATOR_URL']}/_notify/outbox/sms") if m["message"].startswith(run))
    pushes = collections.Counter(m["message"]["notification"]["title"] for m in get(f"{e['NOTIFY_FCM_URL']}/_standin/messages") if m["token"] == device)
    hooks = collections.Counter(
        r["headers"].get("webhook-id")
        for r in get(f"{e['NOTIFY_RECEIVER_URL']}/_receiver/requests")
        if r["path"] == f"/{run}" and 200 <= r["answered"] < 300
    )
    twice = {k: n for c in (emails, sms, pushes, hooks) for k, n in c.items() if n > 1}
    print(f"received: {sum(emails.values())} emails, {sum(sms.values())} SMS, {sum(pushes.values())} pushes, {sum(hooks.values())} webhooks; sent twice: {len(twice)}")

    ok = not refused and not pending and not twice and finals.get("sent", 0) == len(accepted)
    print("load: PASS" if ok else "load: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
