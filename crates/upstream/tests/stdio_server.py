"""A small MCP server over stdio for the connector's tests. Modes (argv[1]):
good, wrong_id, garbage, exit_after_2, silent, huge, reverse (tools/call answers held until
five wait, then sent last first). Writes noise to stderr on every message.
In good mode, tools by name: env (the environment's keys), hang (never answers), cancelled
(the cancellations received so far), progress (progress, a log message and a list change
before the answer), ask_roots (asks the client for roots, answers with the reply); anything
else echoes its arguments."""
import json
import os
import sys

mode = sys.argv[1] if len(sys.argv) > 1 else "good"
calls = 0
cancelled = []
held = []


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


for raw in sys.stdin:
    sys.stderr.write("stderr noise: got a message\n")
    sys.stderr.flush()
    msg = json.loads(raw)
    if "id" not in msg:
        if msg.get("method") == "notifications/cancelled":
            cancelled.append(msg.get("params"))
        continue
    mid, method = msg["id"], msg.get("method")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "py", "version": "1"}}})
    elif method == "tools/list":
        cursor = (msg.get("params") or {}).get("cursor")
        if cursor is None:
            send({"jsonrpc": "2.0", "id": mid, "result": {
                "tools": [{"name": "env", "inputSchema": {"type": "object"}}], "nextCursor": "p2"}})
        else:
            send({"jsonrpc": "2.0", "id": mid, "result": {
                "tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}})
    elif method == "tools/call":
        calls += 1
        name = msg["params"]["name"]
        if mode == "wrong_id":
            send({"jsonrpc": "2.0", "id": mid + 1000, "result": {"content": []}})
        elif mode == "garbage":
            sys.stdout.write("this is not json\n")
            sys.stdout.flush()
        elif mode == "silent":
            pass
        elif mode == "reverse":
            held.append({"jsonrpc": "2.0", "id": mid, "result": {"content": [
                {"type": "text", "text": json.dumps(msg["params"].get("arguments", {}))}]}})
            if len(held) == 5:
                for answer in reversed(held):
                    send(answer)
                held = []
        elif mode == "huge":
            send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": "x" * 200000}]}})
        elif name == "hang":
            pass
        elif name == "cancelled":
            send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": json.dumps(cancelled)}]}})
        elif name == "progress":
            token = msg["params"].get("_meta", {}).get("progressToken")
            for i in (1, 2):
                send({"jsonrpc": "2.0", "method": "notifications/progress",
                      "params": {"progressToken": token, "progress": i, "total": 2}})
            send({"jsonrpc": "2.0", "method": "notifications/message",
                  "params": {"level": "info", "data": "working"}})
            send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
            send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": str(token)}]}})
        elif name == "ask_roots":
            send({"jsonrpc": "2.0", "id": "s1", "method": "roots/list"})
            reply = json.loads(sys.stdin.readline())
            send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": json.dumps(reply)}]}})
        else:
            if name == "env":
                text = ",".join(sorted(os.environ.keys()))
            else:
                text = json.dumps(msg["params"].get("arguments", {}))
            send({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": text}]}})
        if mode == "exit_after_2" and calls >= 2:
            sys.exit(0)
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "no"}})
