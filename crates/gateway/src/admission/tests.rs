//! Identity refusals as evidence: recorded with what the request presented, rate-limited.

use axum::http::{HeaderMap, HeaderValue};
use portcullis_ledger::{Decision, Record};

use super::*;
use crate::testing;

async fn records(st: &AppState) -> Vec<Record> {
    // Refusal records are queued: the memory store has them at once.
    let rows = st.stores.ledger.read_records(0, 10_000).await.unwrap();
    rows.iter()
        .map(|r| portcullis_ledger::canonical::parse_canonical(&r.bytes).unwrap())
        .collect()
}

fn request(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("localhost"));
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

const PEER: Peer<'static> = Peer {
    client: Some(std::net::SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::new(127, 0, 0, 9),
        4242,
    ))),
    line: "POST /mcp",
    cid: "cid-refused",
    cert: None,
};

#[tokio::test]
async fn a_refusal_is_recorded_with_the_key_id_the_client_and_its_user_agent() {
    let (st, _) = testing::state();
    let forged = format!("pcl_{}_{}", "ab12".repeat(3), "S".repeat(43));
    let h = request(&[
        ("authorization", &format!("Bearer {forged}")),
        ("user-agent", &format!("agent/1 {}", "x".repeat(500))),
    ]);
    let f = admit(&st, &h, &PEER).await.unwrap_err();
    assert_eq!(f.code, portcullis_protocol::ErrorCode::InvalidCredentials);
    let recs = records(&st).await;
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(r.decision, Some(Decision::Deny));
    assert_eq!(r.code.as_deref(), Some("invalid_credentials"));
    assert_eq!(
        r.credential_id, "ab12ab12ab12",
        "the key id, never the secret"
    );
    assert_eq!((r.tenant.as_str(), r.agent.as_str()), ("", ""));
    assert_eq!(
        (r.method.as_str(), r.correlation_id.as_str()),
        ("POST /mcp", "cid-refused")
    );
    assert_eq!(r.facts["client"], "127.0.0.9:4242");
    assert_eq!(r.facts["user_agent"].chars().count(), 200);
    assert!(
        !format!("{r:?}").contains(&forged),
        "the secret is not recorded"
    );
    // A request without any credential is recorded too, with no key id.
    admit(&st, &request(&[]), &PEER).await.unwrap_err();
    let recs = records(&st).await;
    assert_eq!(recs[1].code.as_deref(), Some("missing_credentials"));
    assert_eq!(recs[1].credential_id, "");
}

#[tokio::test]
async fn a_flood_of_refusals_is_recorded_up_to_the_rate_and_the_rest_is_counted() {
    let (st, fx) = testing::state();
    let h = request(&[("x-mcp-key", "not-a-key")]);
    let flood = REFUSAL_BURST as usize + 50;
    for _ in 0..flood {
        admit(&st, &h, &PEER).await.unwrap_err();
    }
    assert_eq!(records(&st).await.len(), REFUSAL_BURST as usize);
    assert_eq!(st.metrics.refusals_unrecorded.get(), 50);
    // Time passes: the next refusal is recorded and says how many were not.
    fx.clock.advance(std::time::Duration::from_secs(1));
    admit(&st, &h, &PEER).await.unwrap_err();
    let recs = records(&st).await;
    assert_eq!(recs.len(), REFUSAL_BURST as usize + 1);
    assert_eq!(recs.last().unwrap().facts["refusals_unrecorded"], "50");
}
