//! Policy: ask every configured policy engine (today the role/glob engine) whether the
//! principal may do this to this item, in this context; all must allow.

use async_trait::async_trait;
use portcullis_identity::Principal;
use portcullis_policy::{Action, Context, PolicyRequest, Subject, Target, ToolClass, Verdict};
use portcullis_protocol::ErrorCode;
use serde_json::Value;

use crate::pipeline::{Governed, Stage, Step};
use crate::respond::Failure;
use crate::state::AppState;

pub struct Authorize;

#[async_trait]
impl Stage for Authorize {
    fn name(&self) -> &'static str {
        "policy"
    }

    async fn check(&self, st: &AppState, req: &mut Governed<'_>) -> Result<Step, Failure> {
        match st.engines.evaluate(&req.policy_request(req.live)) {
            Ok(Verdict::Allow) => Ok(Step::Allow),
            Ok(Verdict::Deny(code, reason)) => Ok(Step::Deny(Failure::new(code, reason))),
            Err(e) => Err(Failure::new(
                ErrorCode::PolicyError,
                "the policy could not be evaluated, so the call was denied",
            )
            .caused_by(e)),
        }
    }
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
    st.engines.allows(&request)
}
