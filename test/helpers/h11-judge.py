"""Reads HTTP answers with h11, a strict third-party HTTP/1.1 implementation (Debian's python3-h11).

Input (stdin, JSON): {"port": N, "cases": [{"id", "raw", "method", "upgrade", "mode", "readMs"}]}
  raw      the request bytes, as a latin1 string, sent as they are (any form: HTTP/1.0,
           absolute-form targets, duplicate headers...)
  method   what h11 is told was sent (it frames a HEAD answer with no body, a 101 as a switch)
  upgrade  the request asked for a WebSocket upgrade
  mode     "full": read the whole answer, then watch the connection for stray bytes;
           "stream": read for readMs, then stop (a stream never ends by itself)
Output (stdout, JSON): one result per case: the answers h11 parsed (informational ones too),
body bytes, and h11's error if it refused the bytes as HTTP/1.1.
"""

import json
import socket
import sys
import time

import h11

BODY_CAP = 65536


def decode_headers(headers):
    return [[k.decode("latin1"), v.decode("latin1")] for k, v in headers]


def judge(port, case):
    result = {"id": case["id"], "answers": [], "body": "", "error": None, "extra": "", "closed": False,
              "switched": False}
    conn = h11.Connection(our_role=h11.CLIENT)
    # h11 must know what was asked (HEAD, an upgrade); the bytes on the wire are the case's own.
    headers = [("Host", "judge")]
    if case.get("upgrade"):
        headers += [("Connection", "Upgrade"), ("Upgrade", "websocket")]
    conn.send(h11.Request(method=case["method"], target="/", headers=headers))
    conn.send(h11.EndOfMessage())

    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(case["raw"].encode("latin1"))
    mode = case.get("mode", "full")
    deadline = time.monotonic() + (case.get("readMs", 400) / 1000 if mode == "stream" else 10)
    body = bytearray()
    done = False
    try:
        while not done:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if mode != "stream":
                        result["error"] = "timed out before the answer was complete"
                    break
                sock.settimeout(remaining)
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    data = b""
                if data == b"":
                    result["closed"] = True
                conn.receive_data(data)
                continue
            if event is h11.PAUSED:
                # A 101 switched protocols (the rest is WebSocket), or h11 waits for the next cycle.
                result["switched"] = conn.their_state is h11.SWITCHED_PROTOCOL
                done = True
                break
            if isinstance(event, (h11.InformationalResponse, h11.Response)):
                result["answers"].append({
                    "status": event.status_code,
                    "version": event.http_version.decode("latin1"),
                    "reason": event.reason.decode("latin1"),
                    "headers": decode_headers(event.headers),
                })
            elif isinstance(event, h11.Data):
                if len(body) < BODY_CAP:
                    body += event.data[: BODY_CAP - len(body)]
            elif isinstance(event, h11.EndOfMessage):
                done = True
            elif isinstance(event, h11.ConnectionClosed):
                result["closed"] = True
                done = True
    except h11.RemoteProtocolError as err:
        result["error"] = str(err)

    if done and result["error"] is None and mode == "full" and not result["switched"]:
        # Anything after a complete answer (a body on HEAD or 204, a wrong Content-Length) is a
        # stray answer the next request would be read against.
        extra = bytearray(conn.trailing_data[0])
        if not conn.trailing_data[1] and not result["closed"]:
            sock.settimeout(0.15)
            try:
                while True:
                    data = sock.recv(65536)
                    if data == b"":
                        result["closed"] = True
                        break
                    extra += data
            except (socket.timeout, ConnectionResetError):
                pass
        result["extra"] = extra.decode("latin1")
    if result["switched"]:
        result["extra"] = conn.trailing_data[0].decode("latin1")
    result["body"] = body.decode("latin1")
    sock.close()
    return result


def main():
    spec = json.load(sys.stdin)
    results = []
    for case in spec["cases"]:
        started = time.monotonic()
        results.append(judge(spec["port"], case))
        if spec.get("trace"):
            print(f"{case['id']}: {time.monotonic() - started:.2f}s", file=sys.stderr)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
