//! `[idempotency]` and `[duplicates]`: which live calls need an idempotency key, how long an
//! outcome is kept for a retry, and which identical calls repeated within a window are refused.

use std::time::Duration;

use portcullis_policy::ToolClass;

use super::raw::{RawDuplicates, RawIdempotency};

/// `[idempotency]`.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyConfig {
    /// Classes whose live tool calls must carry an idempotency key.
    pub require_for: Vec<ToolClass>,
    /// How long a key is held and its outcome kept for retries.
    pub ttl: Duration,
}

/// `[duplicates]`: present means identical live calls of `classes` within `window` are refused.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicatesConfig {
    pub window: Duration,
    pub classes: Vec<ToolClass>,
}

const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);
const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const DEFAULT_WINDOW: Duration = Duration::from_secs(10);
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Class names, or the problem for `field`.
fn classes(
    names: Option<&[String]>,
    default: &[ToolClass],
    field: &str,
    errors: &mut Vec<(String, String)>,
) -> Vec<ToolClass> {
    let Some(names) = names else {
        return default.to_vec();
    };
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        match ToolClass::parse(n) {
            Some(c) if !out.contains(&c) => out.push(c),
            Some(_) => errors.push((format!("{field}[{i}]"), format!("'{n}' is listed twice"))),
            None => errors.push((
                format!("{field}[{i}]"),
                format!("'{n}' is not read, write or destructive"),
            )),
        }
    }
    out
}

/// A duration in (0, max], `default` when absent, or the problem for `field`.
fn duration(
    v: Option<&str>,
    default: Duration,
    max: Duration,
    field: &str,
    errors: &mut Vec<(String, String)>,
) -> Duration {
    match v.map(humantime::parse_duration) {
        None => default,
        Some(Ok(d)) if !d.is_zero() && d <= max => d,
        Some(Ok(_)) => {
            errors.push((
                field.into(),
                format!(
                    "must be more than 0 and at most {}",
                    humantime::format_duration(max)
                ),
            ));
            default
        }
        Some(Err(e)) => {
            errors.push((field.into(), format!("not a duration like \"24h\": {e}")));
            default
        }
    }
}

pub(super) fn idempotency(
    raw: &RawIdempotency,
    errors: &mut Vec<(String, String)>,
) -> IdempotencyConfig {
    IdempotencyConfig {
        require_for: classes(
            raw.require_for.as_deref(),
            &[ToolClass::Write, ToolClass::Destructive],
            "idempotency.require_for",
            errors,
        ),
        ttl: duration(
            raw.ttl.as_deref(),
            DEFAULT_TTL,
            MAX_TTL,
            "idempotency.ttl",
            errors,
        ),
    }
}

pub(super) fn duplicates(
    raw: &RawDuplicates,
    errors: &mut Vec<(String, String)>,
) -> DuplicatesConfig {
    DuplicatesConfig {
        window: duration(
            raw.window.as_deref(),
            DEFAULT_WINDOW,
            MAX_WINDOW,
            "duplicates.window",
            errors,
        ),
        classes: classes(
            raw.classes.as_deref(),
            &[ToolClass::Write, ToolClass::Destructive],
            "duplicates.classes",
            errors,
        ),
    }
}
