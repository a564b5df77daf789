//! Data plane, pure part: the policy *data* (tool classes, roles, mode) and the per-call
//! decision. Enforcement lives in the gateway; this crate only answers questions, without I/O.
#![forbid(unsafe_code)]

pub mod class;
pub mod decide;
pub mod role;

pub use class::{ClassRule, ClassRules, ToolClass};
pub use decide::{Mode, Policy, Verdict};
pub use role::{GlobError, Role};
