//! `[[limits.rate]]`: rate limits per tenant, agent, tool or tenant×tool, as GCRA rates
//! (`count/period` with a burst).

use globset::{GlobBuilder, GlobMatcher};

use super::raw::{RawQuota, RawRate, RawTool};

/// What a rate limit counts separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateScope {
    /// One bucket per tenant (all its calls).
    Tenant,
    /// One bucket per agent (`tenant/agent`, all its calls).
    Agent,
    /// One bucket per tool (tool calls of every caller).
    Tool,
    /// One bucket per tenant and tool.
    TenantTool,
    /// One bucket per client address, checked before identity (so that a flood of bad
    /// credentials cannot reach the key store).
    Client,
}

impl RateScope {
    pub fn as_str(self) -> &'static str {
        match self {
            RateScope::Tenant => "tenant",
            RateScope::Agent => "agent",
            RateScope::Tool => "tool",
            RateScope::TenantTool => "tenant_tool",
            RateScope::Client => "client",
        }
    }

    fn parse(s: &str) -> Option<RateScope> {
        Some(match s {
            "tenant" => RateScope::Tenant,
            "agent" => RateScope::Agent,
            "tool" => RateScope::Tool,
            "tenant_tool" => RateScope::TenantTool,
            "client" => RateScope::Client,
            _ => return None,
        })
    }

    /// Whether it counts tool calls only (else every governed call).
    pub fn tools_only(self) -> bool {
        matches!(self, RateScope::Tool | RateScope::TenantTool)
    }
}

/// One configured rate limit.
#[derive(Debug, Clone)]
pub struct RateRule {
    pub scope: RateScope,
    /// Glob over the tenant (`tenant`), `tenant/agent` (`agent`) or the namespaced tool
    /// (`tool`, `tenant_tool`); `*` matches any characters.
    pub pattern: String,
    matcher: GlobMatcher,
    /// As written, e.g. `20/s`.
    pub rate: String,
    /// One cell every `interval_us` microseconds on average.
    pub interval_us: u64,
    label: String,
    /// Cells that may be taken at once.
    pub burst: u32,
}

impl RateRule {
    pub fn matches(&self, subject: &str) -> bool {
        self.matcher.is_match(subject)
    }

    /// `scope match rate burst`, naming the rule in errors, facts and bucket keys (made once,
    /// at load: it is part of every bucket key on the request path).
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// Most cells a burst may hold.
const MAX_BURST: u64 = 1_000_000;

/// `N/s`, `N/m` or `N/h` with N ≥ 1: the count and the period in µs. Buckets count in whole
/// microseconds, so a rate may allow at most one call per microsecond.
fn parse_rate(s: &str) -> Option<(u64, u64)> {
    let (count, unit) = s.split_once('/')?;
    let count: u64 = count.trim().parse().ok().filter(|n| *n >= 1)?;
    let period_us: u64 = match unit.trim() {
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        _ => return None,
    };
    (count <= period_us).then_some((count, period_us))
}

/// The rules, or each problem with its field (`limits.rate[i].<field>`).
pub(super) fn rate_rules(raw: &[RawRate], errors: &mut Vec<(String, String)>) -> Vec<RateRule> {
    let mut out = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let field = |f: &str| format!("limits.rate[{i}].{f}");
        let errors_before = errors.len();
        let scope = RateScope::parse(&r.scope);
        if scope.is_none() {
            errors.push((
                field("scope"),
                format!(
                    "'{}' is not a scope; use client, tenant, agent, tool or tenant_tool",
                    r.scope
                ),
            ));
        }
        let pattern = r.pattern.clone().unwrap_or_else(|| "*".into());
        let matcher = match GlobBuilder::new(&pattern).literal_separator(false).build() {
            Ok(g) if !pattern.is_empty() => Some(g.compile_matcher()),
            Ok(_) => {
                errors.push((field("match"), "must not be empty".into()));
                None
            }
            Err(e) => {
                errors.push((field("match"), format!("invalid glob: {}", e.kind())));
                None
            }
        };
        let rate = parse_rate(&r.rate);
        if rate.is_none() {
            errors.push((
                field("rate"),
                format!(
                    "'{}' is not a rate; write a whole number of calls per s, m or h, at most one a microsecond, e.g. \"20/s\"",
                    r.rate
                ),
            ));
        }
        let burst = match (r.burst, rate) {
            (Some(b), _) if (1..=MAX_BURST).contains(&b) => Some(b as u32),
            (Some(b), _) => {
                errors.push((
                    field("burst"),
                    format!("{b} is out of range: 1 to {MAX_BURST}"),
                ));
                None
            }
            (None, Some((count, _))) => Some(count.min(MAX_BURST) as u32),
            (None, None) => None,
        };
        if errors.len() > errors_before {
            continue;
        }
        if let (Some(scope), Some(matcher), Some((count, period_us)), Some(burst)) =
            (scope, matcher, rate, burst)
        {
            let rate = r.rate.trim().to_string();
            let label = format!("{} {pattern} {rate} burst {burst}", scope.as_str());
            out.push(RateRule {
                scope,
                pattern,
                matcher,
                rate,
                // Rounded up: a rate that does not divide evenly is kept, never exceeded.
                interval_us: period_us.div_ceil(count),
                burst,
                label,
            });
        }
    }
    out
}

/// A calendar window of a quota, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaWindow {
    Hour,
    Day,
    Month,
}

impl QuotaWindow {
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaWindow::Hour => "hour",
            QuotaWindow::Day => "day",
            QuotaWindow::Month => "month",
        }
    }

    /// The start and the end (the next window's start) of the window holding `now_ms`, in
    /// ms since the epoch.
    pub fn bounds(self, now_ms: i64) -> (i64, i64) {
        const HOUR: i64 = 3_600_000;
        const DAY: i64 = 24 * HOUR;
        match self {
            QuotaWindow::Hour => {
                let start = now_ms.div_euclid(HOUR) * HOUR;
                (start, start + HOUR)
            }
            QuotaWindow::Day => {
                let start = now_ms.div_euclid(DAY) * DAY;
                (start, start + DAY)
            }
            QuotaWindow::Month => month_bounds(now_ms),
        }
    }

    fn parse(s: &str) -> Option<QuotaWindow> {
        Some(match s {
            "hour" => QuotaWindow::Hour,
            "day" => QuotaWindow::Day,
            "month" => QuotaWindow::Month,
            _ => return None,
        })
    }
}

/// The calendar month (UTC) holding `now_ms`.
fn month_bounds(now_ms: i64) -> (i64, i64) {
    use time::{Date, Month, OffsetDateTime};
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let first = |year: i32, month: Month| {
        Date::from_calendar_date(year, month, 1)
            .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
            .unwrap_or(0)
    };
    let (year, month) = (at.year(), at.month());
    let next_year = if month == Month::December {
        year + 1
    } else {
        year
    };
    (first(year, month), first(next_year, month.next()))
}

/// Who a quota counts separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaScope {
    Tenant,
    Agent,
}

impl QuotaScope {
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaScope::Tenant => "tenant",
            QuotaScope::Agent => "agent",
        }
    }
}

/// One configured quota.
#[derive(Debug, Clone)]
pub struct QuotaRule {
    pub scope: QuotaScope,
    /// Glob over the tenant (`tenant`) or `tenant/agent` (`agent`).
    pub pattern: String,
    matcher: GlobMatcher,
    pub window: QuotaWindow,
    /// Most calls per window.
    pub calls: Option<u64>,
    /// Most cost units per window (each call costs its tool's `cost`, else 1).
    pub cost_units: Option<u64>,
    label: String,
}

impl QuotaRule {
    pub fn matches(&self, subject: &str) -> bool {
        self.matcher.is_match(subject)
    }

    /// `scope match per window`, naming the rule in errors, facts and counter keys (made
    /// once, at load).
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// Per-tool settings (`[[tools]]`): each setting comes from the first entry that names the
/// tool and sets it.
#[derive(Debug, Clone)]
pub struct ToolRule {
    pub pattern: String,
    matcher: GlobMatcher,
    /// Cost units one call spends of a cost quota, if this entry sets it.
    pub cost: Option<u64>,
    /// Most calls of each tool it names in flight at once, if this entry sets it.
    pub max_concurrency: Option<u32>,
    /// How long a call waits for a free slot before it is refused (`overloaded`).
    pub max_wait: std::time::Duration,
    /// The call's deadline upstream, instead of the upstream's `timeout`, if this entry sets it.
    pub timeout: Option<std::time::Duration>,
    /// Most bytes of a result (its JSON), if this entry sets it.
    pub max_result_bytes: Option<usize>,
    /// Most content items of a result, if this entry sets it.
    pub max_result_items: Option<usize>,
    /// What a result over a cap gets, if this entry sets it (else truncated).
    pub on_oversize: Option<Oversize>,
    /// The argument that bounds how many results a call asks for, and its most.
    pub max_results: Option<ResultsArgument>,
}

/// What happens to a result over `max_result_bytes` or `max_result_items`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oversize {
    /// Cut to the caps, with a marker in the result and the ledger.
    Truncate,
    /// Refused (`result_too_large`); the caller gets no part of it.
    Refuse,
}

impl Oversize {
    pub fn as_str(self) -> &'static str {
        match self {
            Oversize::Truncate => "truncate",
            Oversize::Refuse => "refuse",
        }
    }
}

/// `results_argument` + `max_results`: the count argument a call may set at most to `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsArgument {
    pub argument: String,
    pub max: u64,
}

impl ToolRule {
    pub fn matches(&self, tool: &str) -> bool {
        self.matcher.is_match(tool)
    }
}

/// Most calls of one tool that may be allowed in flight at once.
const MAX_CONCURRENCY: u64 = 100_000;
/// How long a call waits for a slot unless `max_wait` says otherwise, and the most it may say.
const DEFAULT_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(60);
/// The longest per-tool timeout (as for an upstream's).
const MAX_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Fewest and most bytes a result cap may be (a cap leaves room for the truncation marker).
const MIN_RESULT_BYTES: u64 = 1024;
const MAX_RESULT_BYTES: u64 = 64 * 1024 * 1024;
/// Most content items a cap may allow.
const MAX_RESULT_ITEMS: u64 = 100_000;

/// Most a quota or a cost may be.
const MAX_UNITS: u64 = 1_000_000_000_000;

/// A name glob (`*` any characters), or the problem for `field`.
fn name_glob(
    pattern: &str,
    field: String,
    errors: &mut Vec<(String, String)>,
) -> Option<GlobMatcher> {
    if pattern.is_empty() {
        errors.push((field, "must not be empty".into()));
        return None;
    }
    match GlobBuilder::new(pattern).literal_separator(false).build() {
        Ok(g) => Some(g.compile_matcher()),
        Err(e) => {
            errors.push((field, format!("invalid glob: {}", e.kind())));
            None
        }
    }
}

/// A whole number in 1..=MAX_UNITS, or the problem for `field`.
fn units(v: Option<u64>, field: String, errors: &mut Vec<(String, String)>) -> Option<u64> {
    match v {
        Some(n) if (1..=MAX_UNITS).contains(&n) => Some(n),
        Some(n) => {
            errors.push((field, format!("{n} is out of range: 1 to {MAX_UNITS}")));
            None
        }
        None => None,
    }
}

/// The quotas, or each problem with its field (`limits.quota[i].<field>`).
pub(super) fn quota_rules(raw: &[RawQuota], errors: &mut Vec<(String, String)>) -> Vec<QuotaRule> {
    let mut out = Vec::new();
    for (i, q) in raw.iter().enumerate() {
        let field = |f: &str| format!("limits.quota[{i}].{f}");
        let before = errors.len();
        let scope = match q.scope.as_str() {
            "tenant" => Some(QuotaScope::Tenant),
            "agent" => Some(QuotaScope::Agent),
            other => {
                errors.push((
                    field("scope"),
                    format!("'{other}' is not a scope; use tenant or agent"),
                ));
                None
            }
        };
        let pattern = q.pattern.clone().unwrap_or_else(|| "*".into());
        let matcher = name_glob(&pattern, field("match"), errors);
        let window = QuotaWindow::parse(&q.window);
        if window.is_none() {
            errors.push((
                field("window"),
                format!("'{}' is not a window; use hour, day or month", q.window),
            ));
        }
        let calls = units(q.calls, field("calls"), errors);
        let cost_units = units(q.cost_units, field("cost_units"), errors);
        if q.calls.is_none() && q.cost_units.is_none() {
            errors.push((field("calls"), "give calls, cost_units or both".into()));
        }
        if errors.len() > before {
            continue;
        }
        if let (Some(scope), Some(matcher), Some(window)) = (scope, matcher, window) {
            let label = format!("{} {pattern} per {}", scope.as_str(), window.as_str());
            out.push(QuotaRule {
                scope,
                pattern,
                matcher,
                window,
                calls,
                cost_units,
                label,
            });
        }
    }
    out
}

/// The `[[tools]]` entries, or each problem with its field (`tools[i].<field>`).
pub(super) fn tool_rules(raw: &[RawTool], errors: &mut Vec<(String, String)>) -> Vec<ToolRule> {
    let mut out = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let before = errors.len();
        let matcher = name_glob(&t.pattern, format!("tools[{i}].match"), errors);
        let cost = units(t.cost, format!("tools[{i}].cost"), errors);
        let max_concurrency = match t.max_concurrency {
            Some(n) if (1..=MAX_CONCURRENCY).contains(&n) => Some(n as u32),
            Some(n) => {
                errors.push((
                    format!("tools[{i}].max_concurrency"),
                    format!("{n} is out of range: 1 to {MAX_CONCURRENCY}"),
                ));
                None
            }
            None => None,
        };
        let max_wait = match t.max_wait.as_deref().map(humantime::parse_duration) {
            None => DEFAULT_MAX_WAIT,
            Some(Ok(d)) if d <= MAX_WAIT => d,
            Some(Ok(_)) => {
                errors.push((
                    format!("tools[{i}].max_wait"),
                    "must be at most 60s".to_string(),
                ));
                DEFAULT_MAX_WAIT
            }
            Some(Err(e)) => {
                errors.push((
                    format!("tools[{i}].max_wait"),
                    format!("not a duration like \"500ms\": {e}"),
                ));
                DEFAULT_MAX_WAIT
            }
        };
        let timeout = match t.timeout.as_deref().map(humantime::parse_duration) {
            None => None,
            Some(Ok(d)) if !d.is_zero() && d <= MAX_TIMEOUT => Some(d),
            Some(Ok(_)) => {
                errors.push((
                    format!("tools[{i}].timeout"),
                    "must be more than 0 and at most 1h".to_string(),
                ));
                None
            }
            Some(Err(e)) => {
                errors.push((
                    format!("tools[{i}].timeout"),
                    format!("not a duration like \"30s\": {e}"),
                ));
                None
            }
        };
        let caps = result_caps(t, i, errors);
        if errors.len() > before {
            continue;
        }
        if let Some(matcher) = matcher {
            let (max_result_bytes, max_result_items, on_oversize, max_results) = caps;
            out.push(ToolRule {
                pattern: t.pattern.clone(),
                matcher,
                cost,
                max_concurrency,
                max_wait,
                timeout,
                max_result_bytes,
                max_result_items,
                on_oversize,
                max_results,
            });
        }
    }
    out
}

type Caps = (
    Option<usize>,
    Option<usize>,
    Option<Oversize>,
    Option<ResultsArgument>,
);

/// `max_result_bytes`, `max_result_items`, `on_oversize`, and `results_argument` with
/// `max_results`, or each problem with its field.
fn result_caps(t: &RawTool, i: usize, errors: &mut Vec<(String, String)>) -> Caps {
    let field = |f: &str| format!("tools[{i}].{f}");
    let bytes = match t.max_result_bytes {
        Some(n) if (MIN_RESULT_BYTES..=MAX_RESULT_BYTES).contains(&n) => Some(n as usize),
        Some(n) => {
            errors.push((
                field("max_result_bytes"),
                format!("{n} is out of range: {MIN_RESULT_BYTES} to {MAX_RESULT_BYTES}"),
            ));
            None
        }
        None => None,
    };
    let items = match t.max_result_items {
        Some(n) if (1..=MAX_RESULT_ITEMS).contains(&n) => Some(n as usize),
        Some(n) => {
            errors.push((
                field("max_result_items"),
                format!("{n} is out of range: 1 to {MAX_RESULT_ITEMS}"),
            ));
            None
        }
        None => None,
    };
    let oversize = match t.on_oversize.as_deref() {
        None => None,
        Some("truncate") => Some(Oversize::Truncate),
        Some("refuse") => Some(Oversize::Refuse),
        Some(other) => {
            errors.push((
                field("on_oversize"),
                format!("'{other}' is not truncate or refuse"),
            ));
            None
        }
    };
    let results = match (&t.results_argument, t.max_results) {
        (None, None) => None,
        (Some(a), Some(max)) if !a.is_empty() && a.len() <= 256 && max >= 1 => {
            Some(ResultsArgument {
                argument: a.clone(),
                max,
            })
        }
        (Some(a), Some(_)) if a.is_empty() || a.len() > 256 => {
            errors.push((
                field("results_argument"),
                "must be an argument name of 1 to 256 characters".into(),
            ));
            None
        }
        (Some(_), Some(_)) => {
            errors.push((field("max_results"), "must be at least 1".into()));
            None
        }
        (Some(_), None) => {
            errors.push((
                field("max_results"),
                "results_argument needs max_results, the most the argument may be".into(),
            ));
            None
        }
        (None, Some(_)) => {
            errors.push((
                field("results_argument"),
                "max_results needs results_argument, the argument it bounds".into(),
            ));
            None
        }
    };
    (bytes, items, oversize, results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(scope: &str, pattern: Option<&str>, rate: &str, burst: Option<u64>) -> RawRate {
        RawRate {
            scope: scope.into(),
            pattern: pattern.map(str::to_string),
            rate: rate.into(),
            burst,
        }
    }

    #[test]
    fn rates_become_intervals_and_bursts() {
        let mut errors = Vec::new();
        let rules = rate_rules(
            &[
                raw("tenant", None, "20/s", None),
                raw("tenant_tool", Some("files.*"), "3/m", Some(1)),
                raw("agent", Some("acme/*"), "7200/h", Some(10)),
                raw("tool", None, "7/s", None),
            ],
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let got: Vec<(RateScope, u64, u32)> = rules
            .iter()
            .map(|r| (r.scope, r.interval_us, r.burst))
            .collect();
        assert_eq!(
            got,
            [
                (RateScope::Tenant, 50_000, 20),
                (RateScope::TenantTool, 20_000_000, 1),
                (RateScope::Agent, 500_000, 10),
                (RateScope::Tool, 142_858, 7)
            ]
        );
        assert!(rules[0].matches("anyone"));
        assert!(rules[1].matches("files.read") && !rules[1].matches("notes.read"));
        assert!(rules[2].matches("acme/bot") && !rules[2].matches("other/bot"));
        assert_eq!(rules[1].label(), "tenant_tool files.* 3/m burst 1");
    }

    #[test]
    fn every_bad_value_is_reported_with_its_field() {
        let mut errors = Vec::new();
        let rules = rate_rules(
            &[
                raw("user", None, "1/s", None),
                raw("tool", Some("a.["), "0/s", None),
                raw("tool", Some(""), "5/d", Some(0)),
                raw("tool", None, "many", Some(2_000_000)),
                raw("tool", None, "1000001/s", None),
            ],
            &mut errors,
        );
        assert!(rules.is_empty());
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "limits.rate[0].scope",
                "limits.rate[1].match",
                "limits.rate[1].rate",
                "limits.rate[2].match",
                "limits.rate[2].rate",
                "limits.rate[2].burst",
                "limits.rate[3].rate",
                "limits.rate[3].burst",
                "limits.rate[4].rate",
            ]
        );
    }

    #[test]
    fn windows_are_calendar_windows_in_utc() {
        // 2026-12-02T09:41:05.123Z
        let now = 1_796_204_465_123;
        assert_eq!(
            QuotaWindow::Hour.bounds(now),
            (1_796_202_000_000, 1_796_205_600_000)
        );
        assert_eq!(
            QuotaWindow::Day.bounds(now),
            (1_796_169_600_000, 1_796_256_000_000)
        );
        // December 2026 to January 2027.
        assert_eq!(
            QuotaWindow::Month.bounds(now),
            (1_796_083_200_000, 1_798_761_600_000)
        );
        // February of a leap year has 29 days.
        let feb_2028 = 1_832_976_000_000; // 2028-02-01T00:00:00Z
        let (start, end) = QuotaWindow::Month.bounds(feb_2028 + 5);
        assert_eq!((start, end - start), (feb_2028, 29 * 86_400_000));
    }

    #[test]
    fn quotas_and_tool_costs_load_and_name_their_fields() {
        let mut errors = Vec::new();
        let quotas = quota_rules(
            &[RawQuota {
                scope: "agent".into(),
                pattern: None,
                window: "day".into(),
                calls: Some(100),
                cost_units: None,
            }],
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(quotas[0].label(), "agent * per day");
        let bad = quota_rules(
            &[
                RawQuota {
                    scope: "user".into(),
                    pattern: Some("[".into()),
                    window: "week".into(),
                    calls: Some(0),
                    cost_units: None,
                },
                RawQuota {
                    scope: "tenant".into(),
                    pattern: None,
                    window: "hour".into(),
                    calls: None,
                    cost_units: None,
                },
            ],
            &mut errors,
        );
        assert!(bad.is_empty());
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "limits.quota[0].scope",
                "limits.quota[0].match",
                "limits.quota[0].window",
                "limits.quota[0].calls",
                "limits.quota[1].calls"
            ]
        );
        let mut errors = Vec::new();
        let tools = tool_rules(
            &[
                RawTool {
                    pattern: "files.*".into(),
                    cost: Some(5),
                    max_concurrency: None,
                    max_wait: None,
                    timeout: Some("5s".into()),
                    ..Default::default()
                },
                RawTool {
                    pattern: "x".into(),
                    cost: Some(0),
                    max_concurrency: Some(0),
                    max_wait: Some("2m".into()),
                    timeout: Some("0s".into()),
                    ..Default::default()
                },
            ],
            &mut errors,
        );
        assert_eq!(tools.len(), 1);
        assert!(tools[0].matches("files.read") && tools[0].cost == Some(5));
        assert_eq!(tools[0].timeout, Some(std::time::Duration::from_secs(5)));
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "tools[1].cost",
                "tools[1].max_concurrency",
                "tools[1].max_wait",
                "tools[1].timeout"
            ]
        );
    }

    #[test]
    fn result_caps_are_checked_and_each_problem_named() {
        let good = RawTool {
            pattern: "db.*".into(),
            max_result_bytes: Some(65_536),
            max_result_items: Some(100),
            on_oversize: Some("refuse".into()),
            results_argument: Some("limit".into()),
            max_results: Some(50),
            ..Default::default()
        };
        let mut errors = Vec::new();
        let tools = tool_rules(&[good], &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let t = &tools[0];
        assert_eq!(
            (t.max_result_bytes, t.max_result_items, t.on_oversize),
            (Some(65_536), Some(100), Some(Oversize::Refuse))
        );
        assert_eq!(
            t.max_results,
            Some(ResultsArgument {
                argument: "limit".into(),
                max: 50
            })
        );
        let bad = [
            RawTool {
                pattern: "a".into(),
                max_result_bytes: Some(100),
                max_result_items: Some(0),
                on_oversize: Some("drop".into()),
                ..Default::default()
            },
            RawTool {
                pattern: "b".into(),
                results_argument: Some("limit".into()),
                ..Default::default()
            },
            RawTool {
                pattern: "c".into(),
                max_results: Some(5),
                ..Default::default()
            },
            RawTool {
                pattern: "d".into(),
                results_argument: Some(String::new()),
                max_results: Some(5),
                ..Default::default()
            },
            RawTool {
                pattern: "e".into(),
                results_argument: Some("n".into()),
                max_results: Some(0),
                max_result_bytes: Some(MAX_RESULT_BYTES + 1),
                ..Default::default()
            },
        ];
        let mut errors = Vec::new();
        assert!(tool_rules(&bad, &mut errors).is_empty());
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "tools[0].max_result_bytes",
                "tools[0].max_result_items",
                "tools[0].on_oversize",
                "tools[1].max_results",
                "tools[2].results_argument",
                "tools[3].results_argument",
                "tools[4].max_result_bytes",
                "tools[4].max_results"
            ]
        );
    }
}
