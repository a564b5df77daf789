"""The official MCP Python SDK against the gateway, with the reference memory and filesystem
servers behind it. Usage: client.py URL KEY WORKDIR. Exits non-zero on the first thing that
does not behave as documented (README, docs/pipeline.md)."""

import asyncio
import json
import os
import sys

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

KEY = "io.portcullis/idempotencyKey"
PREVIEW = "io.portcullis/dryRun"


def check(cond, what):
    if not cond:
        raise SystemExit(f"python client: FAILED: {what}")
    print(f"python client: ok: {what}")


def text(result):
    return "".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def main(url, key, workdir):
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = {t.name: t for t in (await session.list_tools()).tools}
                check("memory.create_entities" in tools, "the memory server's tools are listed")
                check(
                    tools["memory.create_entities"].output_schema is not None,
                    "create_entities declares an output schema",
                )
                name = f"py-entity-{os.getpid()}"
                entity = {"name": name, "entityType": "test", "observations": ["seen"]}

                # A write without dry_run = false: a preview, valid for a tool with an output
                # schema (the SDK checks structured content against it on non-error results).
                preview = await session.call_tool("memory.create_entities", {"entities": [entity]})
                meta = (preview.meta or {}).get(PREVIEW)
                check(preview.is_error is True, "the preview says the tool did not run")
                check(preview.structured_content is None, "the preview has no structuredContent")
                check(meta is not None and meta["dryRun"] is True, "the preview is in _meta")
                check(meta["liveCallWouldBeAllowed"] is True, "the preview says a live call would run")
                check("DRY RUN" in text(preview), "the preview's text says DRY RUN")
                graph = await session.call_tool("memory.read_graph", {})
                check(name not in json.dumps(graph.structured_content), "the preview wrote nothing")

                # Live: a write needs an idempotency key; with one, the real result, checked by
                # the SDK against the tool's output schema.
                try:
                    await session.call_tool(
                        "memory.create_entities", {"entities": [entity]}, meta={"dry_run": False}
                    )
                except MCPError as e:
                    check(e.data["code"] == "idempotency_key_required", "a live write needs a key")
                else:
                    check(False, "a live write without an idempotency key is refused")
                live = await session.call_tool(
                    "memory.create_entities",
                    {"entities": [entity]},
                    meta={"dry_run": False, KEY: f"py-memory-{os.getpid()}"},
                )
                check(live.is_error is not True, "the live write ran")
                check(
                    live.structured_content["entities"][0]["name"] == name,
                    "the live result is the tool's own structured content",
                )
                graph = await session.call_tool("memory.read_graph", {})
                names = [e["name"] for e in graph.structured_content["entities"]]
                check(name in names, "the live write is visible")

                # Filesystem: a preview, then a live write, then a read.
                path = os.path.join(workdir, "files", f"py-{os.getpid()}.txt")
                args = {"path": path, "content": "written through the gateway"}
                preview = await session.call_tool("fs.write_file", args)
                check(preview.is_error is True and PREVIEW in (preview.meta or {}), "fs preview")
                check(not os.path.exists(path), "the fs preview wrote no file")
                fs_meta = {"dry_run": False, KEY: f"py-fs-{os.getpid()}"}
                live = await session.call_tool("fs.write_file", args, meta=fs_meta)
                check(live.is_error is not True, "the live fs write ran")
                retry = await session.call_tool("fs.write_file", args, meta=fs_meta)
                replay_of = (retry.meta or {}).get("io.portcullis/replayOf")
                check(isinstance(replay_of, str), "a retry under the key is a replay")
                check(text(retry) == text(live), "the replay is the first result")
                read = await session.call_tool("fs.read_text_file", {"path": path})
                check("written through the gateway" in text(read), "the written file reads back")

                # Destructive tools need allow_destructive: refused, as a JSON-RPC error that
                # carries the error contract.
                try:
                    await session.call_tool("memory.delete_entities", {"entityNames": [name]})
                except MCPError as e:
                    check(e.data["code"] == "unknown_tool", "a destructive call is refused as unknown")
                else:
                    check(False, "a destructive call is refused")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
