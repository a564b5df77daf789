//! A database written by an older schema opens, migrates in place and keeps its content.

use super::*;
use crate::{
    ApprovalStore, ControlStore, LimitStore, QuotaOutcome, ReplayStore, Reservation, SCHEMA_VERSION,
};

#[tokio::test]
async fn a_version_2_database_migrates_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(schema::V1).unwrap();
    conn.execute_batch(schema::V2).unwrap();
    conn.pragma_update(None, "user_version", 2).unwrap();
    conn.execute(
        "INSERT INTO api_keys(id, tenant, agent, role, hash_hex, created_ms)
         VALUES ('old', 't', 'a', 'reader', '00', 1)",
        [],
    )
    .unwrap();
    drop(conn);

    let store = open(&dir);
    let version: u32 = Connection::open(&path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(store.find_key("old").await.unwrap().unwrap().role, "reader");
    assert_eq!(store.controls_version().await.unwrap(), 0);
    assert_eq!(
        store.add_usage("q", 0, 2, 10).await.unwrap(),
        QuotaOutcome::Counted { used: 2 }
    );
    assert!(store.approval("none").await.unwrap().is_none());
    assert_eq!(store.append(record("first")).await.unwrap().seq, 0);
    store.close().await;
    // Opening again at the current version changes nothing.
    let store = open(&dir);
    assert_eq!(store.usage("q", 0).await.unwrap(), 2);
    store.close().await;
}

#[tokio::test]
async fn a_version_4_reservation_keeps_holding_after_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let conn = Connection::open(&path).unwrap();
    for ddl in [schema::V1, schema::V2, schema::V3, schema::V4] {
        conn.execute_batch(ddl).unwrap();
    }
    conn.pragma_update(None, "user_version", 4).unwrap();
    conn.execute(
        "INSERT INTO replay(key, expires_ms, result) VALUES ('n', 100, NULL), ('d', 100, x'01')",
        [],
    )
    .unwrap();
    drop(conn);

    let store = open(&dir);
    assert_eq!(
        store.reserve("n", "fp", 200, 1).await.unwrap(),
        Reservation::InFlight {
            fingerprint: String::new()
        }
    );
    assert_eq!(
        store.reserve("d", "fp", 200, 1).await.unwrap(),
        Reservation::Completed {
            fingerprint: String::new(),
            result: vec![1]
        }
    );
    assert_eq!(
        store.reserve("new", "fp", 200, 1).await.unwrap(),
        Reservation::Reserved
    );
    store.close().await;
}

#[tokio::test]
async fn a_version_5_database_gains_tenants_admin_keys_and_grants_and_its_keys_still_work() {
    use crate::{AdminStore, Tenant};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let conn = Connection::open(&path).unwrap();
    for ddl in [schema::V1, schema::V2, schema::V3, schema::V4, schema::V5] {
        conn.execute_batch(ddl).unwrap();
    }
    conn.pragma_update(None, "user_version", 5).unwrap();
    conn.execute(
        "INSERT INTO api_keys(id, tenant, agent, role, hash_hex, created_ms)
         VALUES ('old', 'acme', 'a', 'reader', '00', 1)",
        [],
    )
    .unwrap();
    drop(conn);

    let store = open(&dir);
    let key = store.find_key("old").await.unwrap().unwrap();
    assert_eq!(
        (key.tenant.as_str(), key.tenant_disabled_ms),
        ("acme", None)
    );
    assert!(store.tenants().await.unwrap().is_empty());
    assert!(store.list_admin_keys().await.unwrap().is_empty());
    assert!(store.grants().await.unwrap().is_empty());
    let t = Tenant {
        name: "acme".into(),
        description: String::new(),
        disabled_ms: Some(3),
        created_ms: 1,
        updated_ms: 1,
        version: 0,
    };
    store.put_tenant(t, None).await.unwrap();
    assert_eq!(
        store
            .find_key("old")
            .await
            .unwrap()
            .unwrap()
            .tenant_disabled_ms,
        Some(3),
        "a key made before tenants existed is stopped by its tenant's row"
    );
    store.close().await;
}
