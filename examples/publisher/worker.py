#!/usr/bin/env python3
"""A worker in another language, publishing an external job's progress
through the BooksTrack hub over plain HTTP (docs/PROTOCOL.md §21).

    python3 worker.py URL [ITEMS] [--lose-every N] [--pace-ms MS]

It creates a batch_enrichment job, prints one JSON line with the viewers'
jobId and token, then reports each of ITEMS items and completes the job.
Every request carries idempotency keys, so any request may be sent again:
on a lost connection, a 5xx or a 429 it retries (waiting out Retry-After),
and with --lose-every N every Nth request is sent twice, its first answer
thrown away as if it had been lost; --pace-ms stands for the work an item
takes. Its last line says how many requests it had to retry. Standard
library only.
"""

import json
import sys
import time
import urllib.error
import urllib.request

RETRIES = 0


def call(url, body, key=None, attempts=600):
    """POSTs JSON until an answer that is not a retryable failure."""
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    global RETRIES
    delay = 0.05
    for attempt in range(attempts):
        if attempt:
            RETRIES += 1
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as e:
            if e.code == 429 or e.code >= 500:
                wait = float(e.headers.get("Retry-After") or delay)
                time.sleep(wait)
                continue
            return e.code, json.load(e)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    raise SystemExit("gave up on " + url)


def main():
    args = sys.argv[1:]
    def option(name):
        if name not in args:
            return 0
        i = args.index(name)
        value = int(args[i + 1])
        del args[i : i + 2]
        return value

    lose_every = option("--lose-every")
    pace = option("--pace-ms") / 1000.0
    base = args[0].rstrip("/")
    items = int(args[1]) if len(args) > 1 else 1000
    status, created = call(base + "/api/jobs", {"pipeline": "batch_enrichment", "totalCount": items})
    if status != 202:
        raise SystemExit("could not create the job: %s" % created)
    job = created["data"]
    print(json.dumps({"jobId": job["jobId"], "token": job["token"]}), flush=True)
    events_url = "%s/api/jobs/%s/events" % (base, job["jobId"])
    key = job["publisherKey"]
    requests = 0

    def publish(event):
        nonlocal requests
        requests += 1
        body = {"events": [event]}
        if lose_every and requests % lose_every == 0:
            call(events_url, body, key)  # this answer is "lost"
        status, answer = call(events_url, body, key)
        if status != 200:
            raise SystemExit("event %s refused: %s" % (event.get("key"), answer))
        return answer["data"]["results"][0]["seq"]

    for n in range(1, items + 1):
        time.sleep(pace)  # the work itself
        publish(
            {
                "type": "progress",
                "key": "item-%d" % n,
                "booksProcessed": n,
                "totalBooks": items,
                "status": "Enriching %d of %d" % (n, items),
                "currentTitle": "Book %d" % n,
            }
        )
    seq = publish({"type": "complete", "key": "done", "result": {"books": []}, "successCount": items})
    print(json.dumps({"lastSeq": seq, "retries": RETRIES}), flush=True)


if __name__ == "__main__":
    main()
