#!/usr/bin/env python3
"""An independent client of the job sockets, for the interop test
(crates/server/tests/it/interop.rs): Python's `websockets` and `msgpack`,
not this workspace's code, read one job to its end.

    ws_client.py WS_URL MODE ENDPOINT JOB_ID TOKEN

WS_URL    the server, ws://host:port (the path is added here)
MODE      deflate  permessage-deflate, as websockets offers it by default
          msgpack  subprotocol bookstrack.msgpack (binary frames decoded with
                   msgpack; deflate stays on, as by default)
          plain    no extension, no subprotocol: JSON text frames
ENDPOINT  job      GET /ws/progress?jobId=..&token=..&lastSeq=0, then ready
          mux      GET /ws/jobs, then one subscribe

Prints, on stdout:
    # extensions: <negotiated, as the server answered them, or none>
    # subprotocol: <negotiated, or none>
    # response-extensions: <the 101's Sec-WebSocket-Extensions, or none>
    # started                  (ready sent, or the subscribed notice read;
                               "# started: ..." when an ended job's replay
                               and close came before the ready could go)
    {...}                      each job event (a message with a seq), one
                               JSON line, keys sorted
    # compressed: N of M       how many of the M events came compressed
    # close: CODE              (job only) the server's close code
and exits 0 after the terminal event (job_complete, or error with a seq).
Anything unexpected goes to stderr with a non-zero exit.
"""

import asyncio
import collections
import json
import sys

import msgpack
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import CONT, CTRL_OPCODES
from websockets.protocol import State

MSGPACK = "bookstrack.msgpack"
TERMINAL = ("job_complete", "error")
TIMEOUT = 60

# Whether each data message arrived compressed (RSV1), in arrival order.
# websockets hides frames from its users, so the extension's own decode is
# wrapped, before any connection exists: frames that arrive with the 101
# are parsed before connect() returns.
_rsv1 = collections.deque()
_decode = PerMessageDeflate.decode


def _counting_decode(self, frame, *, max_size=None):
    if frame.opcode not in CTRL_OPCODES and frame.opcode is not CONT:
        _rsv1.append(bool(frame.rsv1))
    return _decode(self, frame, max_size=max_size)


PerMessageDeflate.decode = _counting_decode


def fail(msg):
    print(f"ws_client.py: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def out(line):
    print(line, flush=True)


def describe(ext):
    """A negotiated extension, in the words of the server's answer."""
    if not isinstance(ext, PerMessageDeflate):
        return ext.name
    parts = [ext.name]
    # On a client, "remote" is the server.
    if ext.remote_no_context_takeover:
        parts.append("server_no_context_takeover")
    if ext.local_no_context_takeover:
        parts.append("client_no_context_takeover")
    if ext.remote_max_window_bits != 15:
        parts.append(f"server_max_window_bits={ext.remote_max_window_bits}")
    if ext.local_max_window_bits != 15:
        parts.append(f"client_max_window_bits={ext.local_max_window_bits}")
    return "; ".join(parts)


def decode(msg, mode):
    """One message as a dict, and whether it came compressed."""
    compressed = _rsv1.popleft() if _rsv1 else False
    if mode == "msgpack":
        if not isinstance(msg, bytes):
            fail(f"a text frame on a {MSGPACK} socket: {msg!r}")
        return msgpack.unpackb(msg, raw=False), compressed
    if not isinstance(msg, str):
        fail(f"a binary frame on a JSON socket: {msg!r}")
    return json.loads(msg), compressed


async def follow(base, mode, endpoint, job_id, token):
    if endpoint == "job":
        url = f"{base}/ws/progress?jobId={job_id}&token={token}&lastSeq=0"
    else:
        url = f"{base}/ws/jobs"
    options = {"open_timeout": 10}
    if mode == "plain":
        options["compression"] = None
    if mode == "msgpack":
        options["subprotocols"] = [MSGPACK]

    async with connect(url, **options) as ws:
        extensions = [describe(e) for e in ws.protocol.extensions]
        header = ws.response.headers.get("Sec-WebSocket-Extensions")
        out(f"# extensions: {', '.join(extensions) or 'none'}")
        out(f"# subprotocol: {ws.subprotocol or 'none'}")
        out(f"# response-extensions: {header or 'none'}")
        names = [e.name for e in ws.protocol.extensions]
        if mode == "deflate" and names != ["permessage-deflate"]:
            fail(f"permessage-deflate was not negotiated: {names}")
        if mode == "plain" and names:
            fail(f"extensions negotiated though none was offered: {names}")
        if (ws.subprotocol == MSGPACK) != (mode == "msgpack"):
            fail(f"subprotocol {ws.subprotocol!r} in mode {mode}")

        # Requests are JSON text on either encoding.
        if endpoint == "job":
            # An ended job is replayed and closed at once, before any ready:
            # its events and the close may all be in already. Sending then
            # would wait for the TCP close (close_timeout, 10 s), which does
            # not come in while more than max_queue messages sit unread
            # (websockets stops reading). Nothing is awaited between this
            # check and send's own, so the state cannot change in between.
            if ws.protocol.state is State.OPEN:
                await ws.send(json.dumps({"type": "ready"}))
                out("# started")
            else:
                out("# started: no ready, the server had already closed")
        else:
            await ws.send(
                json.dumps(
                    {"type": "subscribe", "jobId": job_id, "token": token, "lastSeq": 0}
                )
            )

        events = compressed = 0
        while True:
            try:
                raw = await ws.recv()
            except ConnectionClosed as e:
                fail(f"closed before the terminal event: {e}")
            m, was_compressed = decode(raw, mode)
            if "seq" not in m:
                # Notices (mux), pongs, job_state: not job events.
                if endpoint == "mux" and m.get("jobId") == job_id:
                    if m.get("type") == "subscribed":
                        out("# started")
                    elif m.get("type") == "error":
                        fail(f"the subscription was refused: {m}")
                continue
            events += 1
            compressed += was_compressed
            out(json.dumps(m, sort_keys=True))
            if m.get("type") in TERMINAL:
                break
        out(f"# compressed: {compressed} of {events}")

        if endpoint == "job":
            # The server closes 1000 after the terminal event; nothing with
            # a seq may come before that.
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), 10)
                except ConnectionClosed:
                    break
                m, _ = decode(raw, mode)
                if "seq" in m:
                    fail(f"an event after the terminal one: {m}")
            out(f"# close: {ws.close_code}")


def main():
    if len(sys.argv) != 6:
        fail("usage: ws_client.py WS_URL deflate|msgpack|plain job|mux JOB_ID TOKEN")
    base, mode, endpoint, job_id, token = sys.argv[1:]
    if mode not in ("deflate", "msgpack", "plain"):
        fail(f"unknown mode {mode!r}")
    if endpoint not in ("job", "mux"):
        fail(f"unknown endpoint {endpoint!r}")
    try:
        asyncio.run(
            asyncio.wait_for(follow(base.rstrip("/"), mode, endpoint, job_id, token), TIMEOUT)
        )
    except asyncio.TimeoutError:
        fail(f"no terminal event within {TIMEOUT} s")


if __name__ == "__main__":
    main()
