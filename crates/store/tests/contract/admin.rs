//! Tenants (created once, updated only at the version the writer read, their state read with
//! their keys) and admin keys.

use std::sync::Arc;

use portcullis_identity::{AdminKeyRecord, AdminRole};
use portcullis_store::{Backend, Grant, StoreError, Tenant};

use super::{concurrently, key};

fn tenant(name: &str) -> Tenant {
    Tenant {
        name: name.into(),
        description: format!("the {name} tenant"),
        disabled_ms: None,
        created_ms: 10,
        updated_ms: 10,
        version: 99,
    }
}

fn admin_key(id: &str, created_ms: i64) -> AdminKeyRecord {
    AdminKeyRecord {
        id: id.into(),
        name: format!("holder of {id}"),
        role: AdminRole::Auditor,
        tenant: Some("acme".into()),
        hash_hex: "ab".repeat(32),
        created_ms,
        expires_ms: None,
        revoked_ms: None,
    }
}

pub async fn tenants_are_created_once_and_listed_by_name<B: Backend>(s: Arc<B>) {
    assert!(s.tenants().await.unwrap().is_empty());
    for name in ["b", "a", "c"] {
        let stored = s.put_tenant(tenant(name), None).await.unwrap();
        assert_eq!(stored.version, 1, "a new tenant starts at version 1");
    }
    assert!(matches!(
        s.put_tenant(tenant("a"), None).await,
        Err(StoreError::Conflict(_))
    ));
    let names: Vec<String> = s
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(
        s.tenant("b").await.unwrap().unwrap().description,
        "the b tenant"
    );
    assert_eq!(s.tenant("zzz").await.unwrap(), None);
}

pub async fn a_tenant_is_updated_only_at_the_version_read<B: Backend>(s: Arc<B>) {
    s.put_tenant(tenant("t"), None).await.unwrap();
    let mut change = tenant("t");
    change.disabled_ms = Some(50);
    change.updated_ms = 50;
    change.created_ms = 0;
    let stored = s.put_tenant(change.clone(), Some(1)).await.unwrap();
    assert_eq!((stored.version, stored.disabled_ms), (2, Some(50)));
    assert_eq!(stored.created_ms, 10, "the creation time stays");
    assert!(
        matches!(
            s.put_tenant(change.clone(), Some(1)).await,
            Err(StoreError::Conflict(_))
        ),
        "a writer that read version 1 cannot overwrite version 2"
    );
    assert!(matches!(
        s.put_tenant(tenant("nope"), Some(1)).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.tenant("t").await.unwrap().unwrap(), stored);
}

pub async fn of_concurrent_updates_at_one_version_exactly_one_wins<B: Backend>(s: Arc<B>) {
    s.put_tenant(tenant("t"), None).await.unwrap();
    let results = concurrently(&s, 16, |s, i| async move {
        let mut t = tenant("t");
        t.description = format!("writer {i}");
        s.put_tenant(t, Some(1)).await
    })
    .await;
    let won: Vec<&Tenant> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(StoreError::Conflict(_))))
    );
    assert_eq!(s.tenant("t").await.unwrap().unwrap(), *won[0]);
}

pub async fn a_keys_tenant_state_is_read_with_the_key<B: Backend>(s: Arc<B>) {
    let mut k = key("k", 1);
    k.tenant = "acme".into();
    s.insert_key(k.clone()).await.unwrap();
    assert_eq!(
        s.find_key("k").await.unwrap().unwrap().tenant_disabled_ms,
        None,
        "a key whose tenant has no row is not disabled"
    );
    s.put_tenant(tenant("acme"), None).await.unwrap();
    assert_eq!(
        s.find_key("k").await.unwrap().unwrap().tenant_disabled_ms,
        None
    );
    let mut off = tenant("acme");
    off.disabled_ms = Some(77);
    s.put_tenant(off, Some(1)).await.unwrap();
    assert_eq!(
        s.find_key("k").await.unwrap().unwrap().tenant_disabled_ms,
        Some(77)
    );
    assert_eq!(s.list_keys().await.unwrap()[0].tenant_disabled_ms, Some(77));
}

pub async fn a_tenant_change_moves_the_controls_version<B: Backend>(s: Arc<B>) {
    let v0 = s.controls_version().await.unwrap();
    s.put_tenant(tenant("t"), None).await.unwrap();
    let v1 = s.controls_version().await.unwrap();
    assert!(v1 > v0);
    s.put_tenant(tenant("t"), Some(1)).await.unwrap();
    assert!(s.controls_version().await.unwrap() > v1);
    let _ = s.put_tenant(tenant("t"), Some(1)).await;
    assert_eq!(
        s.tenant("t").await.unwrap().unwrap().version,
        2,
        "a refused update changes nothing"
    );
}

pub async fn admin_keys_are_kept_apart_and_revoked_once<B: Backend>(s: Arc<B>) {
    for (id, created) in [("b", 2), ("a", 2), ("c", 1)] {
        s.insert_admin_key(admin_key(id, created)).await.unwrap();
    }
    assert!(matches!(
        s.insert_admin_key(admin_key("a", 9)).await,
        Err(StoreError::Conflict(_))
    ));
    let ids: Vec<String> = s
        .list_admin_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, ["c", "a", "b"]);
    assert_eq!(
        s.find_admin_key("a").await.unwrap(),
        Some(admin_key("a", 2))
    );
    assert_eq!(s.find_key("a").await.unwrap(), None, "not an agent key");
    assert!(s.revoke_admin_key("a", 5).await.unwrap());
    assert!(s.revoke_admin_key("a", 9).await.unwrap());
    assert_eq!(
        s.find_admin_key("a").await.unwrap().unwrap().revoked_ms,
        Some(5)
    );
    assert!(!s.revoke_admin_key("zzz", 5).await.unwrap());
}

fn grant(role: &str, pattern: &str) -> Grant {
    Grant {
        role: role.into(),
        pattern: pattern.into(),
        actor: "admin:k".into(),
        created_ms: 7,
    }
}

pub async fn grants_are_added_once_listed_by_role_and_removed<B: Backend>(s: Arc<B>) {
    assert!(s.grants().await.unwrap().is_empty());
    let v0 = s.controls_version().await.unwrap();
    for (r, p) in [("reader", "demo.b"), ("agent", "x.*"), ("reader", "demo.a")] {
        s.add_grant(grant(r, p)).await.unwrap();
    }
    let v1 = s.controls_version().await.unwrap();
    assert!(v1 > v0, "a grant moves the controls version");
    assert!(matches!(
        s.add_grant(grant("reader", "demo.a")).await,
        Err(StoreError::Conflict(_))
    ));
    let all: Vec<(String, String)> = s
        .grants()
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.role, g.pattern))
        .collect();
    assert_eq!(
        all,
        [
            ("agent".to_string(), "x.*".to_string()),
            ("reader".to_string(), "demo.a".to_string()),
            ("reader".to_string(), "demo.b".to_string())
        ]
    );
    assert!(s.remove_grant("reader", "demo.a").await.unwrap());
    let v2 = s.controls_version().await.unwrap();
    assert!(v2 > v1);
    assert!(!s.remove_grant("reader", "demo.a").await.unwrap());
    assert_eq!(
        s.controls_version().await.unwrap(),
        v2,
        "removing nothing moves nothing"
    );
    assert_eq!(s.grants().await.unwrap().len(), 2);
}
