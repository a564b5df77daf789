//! Change notifications for clients: legacy sessions get them on their GET stream (list
//! changes always, resource updates for URIs they subscribed to); modern clients get them on
//! the `subscriptions/listen` streams they opened, only the kinds they opted in to, each tagged
//! with the stream's subscription id. Resource updates go only to principals allowed to read
//! the resource.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use portcullis_identity::Principal;
use portcullis_policy::Action;
use portcullis_protocol::mcp;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::session::{GET_STREAM, outbox};
use crate::state::AppState;

/// Which list changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Tools,
    Prompts,
    Resources,
}

impl ListKind {
    pub fn from_method(method: &str) -> Option<ListKind> {
        match method {
            "notifications/tools/list_changed" => Some(ListKind::Tools),
            "notifications/prompts/list_changed" => Some(ListKind::Prompts),
            "notifications/resources/list_changed" => Some(ListKind::Resources),
            _ => None,
        }
    }

    pub fn method(self) -> &'static str {
        match self {
            ListKind::Tools => "notifications/tools/list_changed",
            ListKind::Prompts => "notifications/prompts/list_changed",
            ListKind::Resources => "notifications/resources/list_changed",
        }
    }
}

/// What a `subscriptions/listen` stream opted in to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub tools: bool,
    pub prompts: bool,
    pub resources: bool,
    pub uris: Vec<String>,
}

impl Filter {
    /// Read `params.notifications`; unknown members are ignored, wrong types refused.
    pub fn parse(v: Option<&Value>) -> Result<Filter, String> {
        let Some(Value::Object(m)) = v else {
            return Err("subscriptions/listen needs a 'notifications' object".into());
        };
        let flag = |k: &str| match m.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("'notifications.{k}' must be true or false")),
        };
        let uris = match m.get("resourceSubscriptions") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) if a.len() <= 1000 => a
                .iter()
                .enumerate()
                .map(|(i, u)| {
                    let u = u.as_str().ok_or_else(|| {
                        "'notifications.resourceSubscriptions' must hold URIs".to_string()
                    })?;
                    mcp::uri::normalize(u)
                        .map_err(|why| format!("'notifications.resourceSubscriptions[{i}]': {why}"))
                })
                .collect::<Result<Vec<_>, String>>()?,
            Some(_) => {
                return Err(
                    "'notifications.resourceSubscriptions' must be an array of at most 1000 URIs"
                        .into(),
                );
            }
        };
        Ok(Filter {
            tools: flag("toolsListChanged")?,
            prompts: flag("promptsListChanged")?,
            resources: flag("resourcesListChanged")?,
            uris,
        })
    }

    pub fn to_value(&self) -> Value {
        let mut v = json!({});
        if self.tools {
            v["toolsListChanged"] = json!(true);
        }
        if self.prompts {
            v["promptsListChanged"] = json!(true);
        }
        if self.resources {
            v["resourcesListChanged"] = json!(true);
        }
        if !self.uris.is_empty() {
            v["resourceSubscriptions"] = json!(self.uris);
        }
        v
    }

    fn wants(&self, kind: ListKind) -> bool {
        match kind {
            ListKind::Tools => self.tools,
            ListKind::Prompts => self.prompts,
            ListKind::Resources => self.resources,
        }
    }
}

pub struct Listener {
    /// The JSON-RPC id of the `subscriptions/listen` request.
    pub subscription_id: Value,
    pub principal: Principal,
    pub filter: Filter,
    uris: HashSet<String>,
    tx: mpsc::Sender<Bytes>,
}

impl Listener {
    pub fn new(
        subscription_id: Value,
        principal: Principal,
        filter: Filter,
        tx: mpsc::Sender<Bytes>,
    ) -> Listener {
        let uris = filter.uris.iter().cloned().collect();
        Listener {
            subscription_id,
            principal,
            filter,
            uris,
            tx,
        }
    }

    fn send(&self, mut msg: Value) {
        msg["params"]["_meta"][mcp::META_SUBSCRIPTION_ID] = self.subscription_id.clone();
        if self.tx.try_send(outbox::frame(None, &msg)).is_err() {
            tracing::debug!("listen stream full or closed; notification dropped");
        }
    }
}

#[derive(Default)]
pub struct Listeners {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Arc<Listener>>>,
}

impl Listeners {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Listener>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(&self, l: Listener) -> u64 {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(key, Arc::new(l));
        key
    }

    pub fn remove(&self, key: u64) -> Option<Arc<Listener>> {
        self.lock().remove(&key)
    }

    fn all(&self) -> Vec<Arc<Listener>> {
        self.lock().values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Tell every client that wants it that a list changed.
pub fn list_changed(st: &AppState, kind: ListKind) {
    let msg = json!({"jsonrpc": "2.0", "method": kind.method()});
    for s in st.sessions.all() {
        s.outbox.emit(GET_STREAM, &msg);
    }
    for l in st.listeners.all() {
        if l.filter.wants(kind) {
            l.send(msg.clone());
        }
    }
}

/// Tell the subscribers of `uri` (allowed to read it) that it was updated. Subscriptions are
/// kept in normal form; an update for a URI without one reaches nobody.
pub fn resource_updated(st: &AppState, uri: &str, msg: &Value) {
    let Ok(normal) = mcp::uri::normalize(uri) else {
        tracing::debug!(uri = %uri.escape_default(), "update for a URI without a normal form; dropped");
        return;
    };
    let uri = normal.as_str();
    let Ok(route) = st.catalog().route_resource(uri) else {
        return;
    };
    let allowed = |p: &Principal| {
        crate::pipeline::stages::permits(st, p, Action::ReadResource, &route.policy_name, None)
    };
    for s in st.sessions.all() {
        if s.subscribed(uri) && allowed(&s.principal) {
            s.outbox.emit(GET_STREAM, msg);
        }
    }
    for l in st.listeners.all() {
        if l.uris.contains(uri) && allowed(&l.principal) {
            l.send(msg.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_strictly() {
        let f = Filter::parse(Some(&json!({
            "toolsListChanged": true,
            "resourceSubscriptions": ["a://1"],
            "futureKind": true
        })))
        .unwrap();
        assert!(f.tools && !f.prompts);
        assert_eq!(f.uris, vec!["a://1"]);
        assert_eq!(
            f.to_value(),
            json!({"toolsListChanged": true, "resourceSubscriptions": ["a://1"]})
        );
        for bad in [
            json!(null),
            json!([]),
            json!({"toolsListChanged": "yes"}),
            json!({"resourceSubscriptions": "a://1"}),
            json!({"resourceSubscriptions": [1]}),
            json!({"resourceSubscriptions": [""]}),
            json!({"resourceSubscriptions": ["file:///srv/a%2F..%2Fb"]}),
            json!({"resourceSubscriptions": ["file:///../etc/passwd"]}),
        ] {
            assert!(Filter::parse(Some(&bad)).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..1001).map(|i| format!("a://{i}")).collect();
        assert!(Filter::parse(Some(&json!({"resourceSubscriptions": many}))).is_err());
        assert!(Filter::parse(None).is_err());
        let f = Filter::parse(Some(
            &json!({"resourceSubscriptions": ["FILE:///srv/x/../a"]}),
        ));
        assert_eq!(
            f.unwrap().uris,
            vec!["file:///srv/a"],
            "watched URIs are normalised"
        );
    }

    #[tokio::test]
    async fn listeners_get_only_what_they_opted_in_to_tagged_with_their_id() {
        let (tx, mut rx) = mpsc::channel(4);
        let l = Listener::new(
            json!(7),
            Principal {
                tenant: "t".into(),
                agent: "a".into(),
                role: "r".into(),
                credential_id: "k".into(),
                auth_method: portcullis_identity::AuthMethod::ApiKey,
                evidence: None,
            },
            Filter {
                tools: true,
                ..Filter::default()
            },
            tx,
        );
        assert!(l.filter.wants(ListKind::Tools) && !l.filter.wants(ListKind::Prompts));
        l.send(json!({"jsonrpc": "2.0", "method": ListKind::Tools.method()}));
        let frame = String::from_utf8(rx.recv().await.unwrap().to_vec()).unwrap();
        assert!(
            frame.contains(r#""io.modelcontextprotocol/subscriptionId":7"#),
            "{frame}"
        );
    }
}
