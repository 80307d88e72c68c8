#!/usr/bin/env python3
"""`make load`: N notifications across the four channels, C at a time, against a running
`make dev`. Reports the accept latency and the accepted→final time (from each record's own
history) as percentiles, and fails unless every accepted notification reached a final status
and none was sent twice (read from the local SES and SNS outboxes, the FCM stand-in and the
webhook receiver). The pass/fail is on correctness; the times are figures for the README.

--chaos K kills a worker process (kill -9, each channel's in turn) K times while the
notifications are sent and delivered, as a crash or an out-of-memory would, and asserts the
same after the local Lambda has started them again. A notification whose worker was killed
after the provider accepted it and before its record said so is sent again once its claim
runs out (SES, SNS and FCM take no idempotency key: at-least-once is all a crash allows); such
a one must show the takeover in its history (two `sending` in a row), and any other
duplicate fails the run.

Usage: scripts/load.py [-n 200] [-c 16] [--within 300] [--chaos K]
(reads .dev/env, as make dev writes it). Only loopback is ever called.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import json
import os
import signal
import sys
import threading
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


WORKERS = ["email-worker", "sms-worker", "push-worker", "webhook-worker"]


def worker_pids(name: str, emulator: str) -> list[int]:
    """This stack's processes of the worker `name`: its binary, with this stack's emulator in
    its environment (another make dev beside this one is left alone)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            exe = os.readlink(proc / "exe")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if Path(exe).name == name and f"AWS_ENDPOINT_URL={emulator}".encode() in environ:
            pids.append(int(proc.name))
    return pids


def chaos(kills: int, emulator: str, stop: threading.Event, log: list[str]) -> None:
    """Kills one worker every second (after the first half second), each channel's in turn."""
    t0 = time.monotonic()
    for k in range(kills):
        if stop.wait(0.5 if k == 0 else 1.0):
            return
        name = WORKERS[k % len(WORKERS)]
        pids = worker_pids(name, emulator)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.append(f"+{time.monotonic() - t0:.1f} s kill -9 {name} {pids or '(not running)'}")


def takeover(view: dict) -> bool:
    """A claim taken over from a worker that died: `sending` twice in a row."""
    statuses = [h["status"] for h in view.get("history", [])]
    return any(a == b == "sending" for a, b in zip(statuses, statuses[1:]))


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
    ap.add_argument("--chaos", type=int, default=0, metavar="K", help="kill -9 a worker K times while delivering")
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

    stop, kills = threading.Event(), []
    killer = threading.Thread(target=chaos, args=(args.chaos, e["NOTIFY_EMULATOR_URL"], stop, kills), daemon=True)
    t0 = time.monotonic()
    killer.start()
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
    stop.set()
    killer.join()
    for line in kills:
        print(f"chaos: {line}")
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
    # What each notification was received as, by id: the key each counter uses.
    def key(nid: str) -> str:
        b = body(accepted[nid])
        return {"email": lambda: b["to"], "sms": lambda: b["message"], "push": lambda: b["title"], "webhook": lambda: nid}[b["channel"]]()

    twice = {nid for nid in accepted for c in (emails, sms, pushes, hooks) if c.get(key(nid), 0) > 1}
    explained = {nid for nid in twice if nid in views and takeover(views[nid])}
    print(
        f"received: {sum(emails.values())} emails, {sum(sms.values())} SMS, {sum(pushes.values())} pushes, {sum(hooks.values())} webhooks; "
        f"sent twice: {len(twice)}" + (f" ({len(explained)} after their worker was killed between the provider's acceptance and the record)" if explained else "")
    )
    for nid in sorted(twice - explained)[:5]:
        print(f"  sent twice without a takeover: {nid} {views.get(nid, {}).get('history')}")
    lost = [nid for nid in accepted if not any(c.get(key(nid), 0) for c in (emails, sms, pushes, hooks))]
    if lost:
        print(f"  never received: {len(lost)}, e.g. {lost[:3]}")

    ok = not refused and not pending and not lost and twice <= explained and finals.get("sent", 0) == len(accepted)
    print("load: PASS" if ok else "load: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
