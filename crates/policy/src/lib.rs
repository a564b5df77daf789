//! Data plane, pure part: the policy *data* (tool classes, roles, mode), the policy engine
//! interface and the role/glob engine. Enforcement lives in the gateway's pipeline; this crate
//! only answers questions, without I/O.
#![forbid(unsafe_code)]

pub mod class;
pub mod engine;
pub mod role;
pub mod role_engine;

pub use class::{ClassRule, ClassRules, ToolClass};
pub use engine::{
    Action, Context, EngineError, Engines, PolicyEngine, PolicyRequest, Subject, Target, Verdict,
};
pub use role::{GlobError, Role};
pub use role_engine::{Mode, Policy};
