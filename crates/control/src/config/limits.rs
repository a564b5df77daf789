//! `[[limits.rate]]`: rate limits per tenant, agent, tool or tenant×tool, as GCRA rates
//! (`count/period` with a burst).

use globset::{GlobBuilder, GlobMatcher};

use super::raw::RawRate;

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
}

impl RateScope {
    pub fn as_str(self) -> &'static str {
        match self {
            RateScope::Tenant => "tenant",
            RateScope::Agent => "agent",
            RateScope::Tool => "tool",
            RateScope::TenantTool => "tenant_tool",
        }
    }

    fn parse(s: &str) -> Option<RateScope> {
        Some(match s {
            "tenant" => RateScope::Tenant,
            "agent" => RateScope::Agent,
            "tool" => RateScope::Tool,
            "tenant_tool" => RateScope::TenantTool,
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
    /// Cells that may be taken at once.
    pub burst: u32,
}

impl RateRule {
    pub fn matches(&self, subject: &str) -> bool {
        self.matcher.is_match(subject)
    }

    /// `scope match rate burst`, naming the rule in errors, facts and bucket keys.
    pub fn label(&self) -> String {
        format!(
            "{} {} {} burst {}",
            self.scope.as_str(),
            self.pattern,
            self.rate,
            self.burst
        )
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
                    "'{}' is not a scope; use tenant, agent, tool or tenant_tool",
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
            out.push(RateRule {
                scope,
                pattern,
                matcher,
                rate: r.rate.trim().to_string(),
                // Rounded up: a rate that does not divide evenly is kept, never exceeded.
                interval_us: period_us.div_ceil(count),
                burst,
            });
        }
    }
    out
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
}
