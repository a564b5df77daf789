//! Duplicate refusal (`[duplicates]`): the same live tool call — same principal, tool and
//! arguments — made again within the window is refused with `duplicate_request`, for the
//! classes that opt in. It catches an agent that loops on a write; a caller that means to
//! repeat a call waits out the window, and a retry of one call uses an idempotency key (a
//! replay is answered before this stage). A call that was not forwarded does not count.

use async_trait::async_trait;
use portcullis_protocol::ErrorCode;
use portcullis_store::Reservation;
use serde_json::json;

use super::idempotency::{fingerprint, release};
use crate::pipeline::{Governed, GovernedMethod, Settlement, Stage, Step};
use crate::respond::Failure;
use crate::state::AppState;

pub struct Duplicates;

#[async_trait]
impl Stage for Duplicates {
    fn name(&self) -> &'static str {
        "duplicates"
    }

    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
        let Some(cfg) = &st.config.duplicates else {
            return Ok(Step::Continue);
        };
        let opted_in = req.facts.class.is_some_and(|c| cfg.classes.contains(&c));
        if req.method != GovernedMethod::ToolsCall || !req.live || !opted_in {
            return Ok(Step::Continue);
        }
        let item = req.item().unwrap_or_default();
        let key = json!([
            "duplicate",
            req.principal.tenant,
            req.principal.agent,
            fingerprint(&item, req.arguments)
        ])
        .to_string();
        let window_ms = cfg.window.as_millis() as i64;
        let found = st
            .stores
            .replay
            .reserve(&key, "", req.now_ms.saturating_add(window_ms), req.now_ms)
            .await
            .map_err(|e| {
                Failure::new(
                    ErrorCode::InternalError,
                    "repeated calls could not be checked",
                )
                .caused_by(e)
            })?;
        Ok(match found {
            Reservation::Reserved => {
                req.facts.duplicate = Some(key);
                Step::Continue
            }
            Reservation::InFlight { .. } | Reservation::Completed { .. } => {
                req.facts
                    .ledger
                    .insert("duplicate_window_ms".into(), window_ms.to_string());
                Step::Deny(
                    Failure::new(
                        ErrorCode::DuplicateRequest,
                        format!(
                            "the same call (tool and arguments) was made less than {window_ms} ms ago"
                        ),
                    )
                    .with("windowMs", json!(window_ms)),
                )
            }
        })
    }

    fn settle(&self, st: &AppState, s: &Settlement) {
        if let Some(key) = s.facts.duplicate.clone()
            && !s.forwarded()
        {
            release(st, key, "a duplicate-call reservation");
        }
    }
}
