//! JSON-RPC decode of the messages on the hot path: a `tools/call` request as a client sends
//! it, and an upstream's result.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use portcullis_protocol::jsonrpc::decode;

const TOOLS_CALL: &[u8] = br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"demo.echo","arguments":{"text":"portcullis-bench"},"_meta":{"progressToken":"p-42"}}}"#;
const RESULT: &[u8] = br#"{"jsonrpc":"2.0","id":"portcullis-7","result":{"content":[{"type":"text","text":"portcullis-bench"}],"isError":false}}"#;

fn bench_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("jsonrpc_decode");
    for (name, bytes) in [("tools_call_request", TOOLS_CALL), ("tool_result", RESULT)] {
        decode(bytes).expect("the sample decodes");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| b.iter(|| decode(black_box(bytes))));
    }
    g.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
