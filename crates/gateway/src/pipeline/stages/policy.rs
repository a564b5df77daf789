//! Policy: ask every configured policy engine (today the role/glob engine) whether the
//! principal may do this to this item, in this context; all must allow.

use async_trait::async_trait;
use portcullis_identity::Principal;
use portcullis_policy::{Action, Context, PolicyRequest, Subject, Target, ToolClass, Verdict};
use portcullis_protocol::ErrorCode;
use serde_json::Value;

use crate::pipeline::{Governed, Stage, Step};
use crate::respond::Failure;
use crate::state::{AppState, Live};

pub struct Authorize;

#[async_trait]
impl Stage for Authorize {
    fn name(&self) -> &'static str {
        "policy"
    }

    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
        let live = req.live(st);
        match live.engines.evaluate(&req.policy_request(req.live)) {
            Ok(Verdict::Allow) => Ok(Step::Allow),
            Ok(Verdict::Deny(code, reason)) => Ok(Step::Deny(hide(&live, req, code, reason))),
            Err(e) => Err(Failure::new(
                ErrorCode::PolicyError,
                "the policy could not be evaluated, so the call was denied",
            )
            .caused_by(e)),
        }
    }
}

/// The denials that are about one item the caller may not use.
const ABOUT_AN_ITEM: [ErrorCode; 3] = [
    ErrorCode::ToolNotAllowed,
    ErrorCode::DestructiveDenied,
    ErrorCode::NotAllowed,
];

/// A denial as the caller gets it. An item the caller may not even see (not in its lists: its
/// role's globs do not name it, or it is destructive without the grant) is refused exactly as
/// an absent one, so that a refusal never confirms that something hidden exists; the ledger
/// keeps the true code in the decision's `policy_code` fact.
fn hide(live: &Live, req: &mut Governed<'_>, code: ErrorCode, reason: String) -> Failure {
    let visible = || live.engines.allows(&req.policy_request(false));
    if ABOUT_AN_ITEM.contains(&code)
        && !visible()
        && let Some(absent) = super::resolve::absent_for(req)
    {
        req.facts
            .ledger
            .insert("policy_code".into(), code.as_str().into());
        return absent;
    }
    Failure::new(code, reason)
}

/// Whether `principal` may `action` the item `name` at all (a preview counts): what lists and
/// notifications show it.
pub fn permits(
    st: &AppState,
    principal: &Principal,
    action: Action,
    name: &str,
    class: Option<ToolClass>,
) -> bool {
    let request = PolicyRequest {
        subject: Subject {
            tenant: &principal.tenant,
            agent: &principal.agent,
            role: &principal.role,
            auth_method: principal.auth_method.as_str(),
        },
        action,
        target: Target { name, class },
        context: Context {
            arguments: &Value::Null,
            live: false,
            time_ms: st.clock.now_ms(),
        },
    };
    st.live().engines.allows(&request)
}
