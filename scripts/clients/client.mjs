// The official MCP TypeScript SDK against the gateway, with the reference memory and filesystem
// servers behind it. Usage: node client.mjs URL KEY WORKDIR. Exits non-zero on the first thing
// that does not behave as documented (README, docs/pipeline.md).
import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

const PREVIEW = 'io.portcullis/dryRun';
const [url, key, workdir] = process.argv.slice(2);

function check(cond, what) {
  if (!cond) {
    console.error(`typescript client: FAILED: ${what}`);
    process.exit(1);
  }
  console.log(`typescript client: ok: ${what}`);
}

const text = (r) => r.content.filter((c) => c.type === 'text').map((c) => c.text).join('');

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${key}` } },
});
const client = new Client({ name: 'portcullis-client-test', version: '1' });
await client.connect(transport);

const { tools } = await client.listTools();
const create = tools.find((t) => t.name === 'memory.create_entities');
check(create !== undefined, "the memory server's tools are listed");
check(create.outputSchema !== undefined, 'create_entities declares an output schema');

const name = `ts-entity-${process.pid}`;
const entities = [{ name, entityType: 'test', observations: ['seen'] }];

// A write without dry_run = false: a preview, which the SDK accepts for a tool with an output
// schema (it checks structured content against it on results that are not errors).
const preview = await client.callTool({ name: 'memory.create_entities', arguments: { entities } });
check(preview.isError === true, 'the preview says the tool did not run');
check(preview.structuredContent === undefined, 'the preview has no structuredContent');
check(preview._meta?.[PREVIEW]?.dryRun === true, 'the preview is in _meta');
check(text(preview).includes('DRY RUN'), "the preview's text says DRY RUN");
let graph = await client.callTool({ name: 'memory.read_graph', arguments: {} });
check(!JSON.stringify(graph.structuredContent).includes(name), 'the preview wrote nothing');

// Live: a write needs an idempotency key; with one, the tool's own result, checked by the SDK
// against the output schema.
const KEY = 'io.portcullis/idempotencyKey';
try {
  await client.callTool({ name: 'memory.create_entities', arguments: { entities }, _meta: { dry_run: false } });
  check(false, 'a live write without an idempotency key is refused');
} catch (e) {
  check(e instanceof McpError && e.data?.code === 'idempotency_key_required', 'a live write needs a key');
}
const live = await client.callTool({
  name: 'memory.create_entities',
  arguments: { entities },
  _meta: { dry_run: false, [KEY]: `ts-memory-${process.pid}` },
});
check(live.isError !== true, 'the live write ran');
check(live.structuredContent.entities[0].name === name, "the live result is the tool's own");
graph = await client.callTool({ name: 'memory.read_graph', arguments: {} });
check(graph.structuredContent.entities.some((e) => e.name === name), 'the live write is visible');

// Filesystem: a preview, then a live write, then a read.
const file = path.join(workdir, 'files', `ts-${process.pid}.txt`);
const args = { path: file, content: 'written through the gateway' };
const fsPreview = await client.callTool({ name: 'fs.write_file', arguments: args });
check(fsPreview.isError === true && fsPreview._meta?.[PREVIEW] !== undefined, 'fs preview');
check(!fs.existsSync(file), 'the fs preview wrote no file');
const fsMeta = { dry_run: false, [KEY]: `ts-fs-${process.pid}` };
const fsLive = await client.callTool({ name: 'fs.write_file', arguments: args, _meta: fsMeta });
check(fsLive.isError !== true, 'the live fs write ran');
const fsRetry = await client.callTool({ name: 'fs.write_file', arguments: args, _meta: fsMeta });
check(typeof fsRetry._meta?.['io.portcullis/replayOf'] === 'string', 'a retry under the key is a replay');
check(text(fsRetry) === text(fsLive), 'the replay is the first result');
const read = await client.callTool({ name: 'fs.read_text_file', arguments: { path: file } });
check(text(read).includes('written through the gateway'), 'the written file reads back');

// Destructive tools need allow_destructive: refused, as a JSON-RPC error carrying the contract.
try {
  await client.callTool({ name: 'memory.delete_entities', arguments: { entityNames: [name] } });
  check(false, 'a destructive call is refused');
} catch (e) {
  check(e instanceof McpError && e.data?.code === 'unknown_tool', 'a destructive call is refused as unknown');
}
await client.close();
