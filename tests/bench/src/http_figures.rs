//! What section 2's rounds add up to: one server's spread at one connection count (median
//! requests/s with the lowest and highest round, median p50 and p99), and the issue's
//! HTTP targets read from those medians. Pure arithmetic; the runs are `http.rs`'s.

use crate::report::Target;
use crate::stats::thousands;
use crate::wrk::WrkResult;

/// keyway / raw hyper at each connection count (the issue's).
pub fn hyper_share_target(connections: u32) -> f64 {
    if connections <= 1 { 0.6 } else { 0.5 }
}

/// keyway / `wasmtime serve`, judged at this connection count only.
pub const WASMTIME_JUDGED_AT: u32 = 64;
pub const WASMTIME_TARGET: f64 = 5.0;
/// keyway's resident memory under load, at most this many times its idle memory.
pub const RSS_TARGET: f64 = 2.0;

/// One server at one connection count, over every round.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Spread {
    pub rounds: usize,
    pub median_rps: f64,
    pub min_rps: f64,
    pub max_rps: f64,
    /// Median over rounds of each round's p50 and p99.
    pub p50_us: f64,
    pub p99_us: f64,
    /// Non-2xx answers and socket errors, summed over rounds.
    pub failed: u64,
}

/// The median of `v` (the mean of the middle two when even); 0 when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

impl Spread {
    pub fn of(rounds: &[WrkResult]) -> Spread {
        let rps: Vec<f64> = rounds.iter().map(|r| r.requests_per_sec).collect();
        Spread {
            rounds: rounds.len(),
            median_rps: median(rps.clone()),
            min_rps: rps.iter().copied().reduce(f64::min).unwrap_or(0.0),
            max_rps: rps.iter().copied().reduce(f64::max).unwrap_or(0.0),
            p50_us: median(rounds.iter().map(|r| r.p50_us).collect()),
            p99_us: median(rounds.iter().map(|r| r.p99_us).collect()),
            failed: rounds.iter().map(|r| r.non_2xx + r.socket_errors).sum(),
        }
    }

    /// `61,734–64,002` (lowest to highest round).
    pub fn range(&self) -> String {
        format!("{}–{}", thousands(self.min_rps), thousands(self.max_rps))
    }
}

/// `a / b`, 0 when `b` is 0.
fn share(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// The targets one connection count is judged by: keyway against raw hyper always,
/// against `wasmtime serve` only at [`WASMTIME_JUDGED_AT`].
pub fn targets(n: u32, keyway: &Spread, hyper: &Spread, wasmtime: &Spread) -> Vec<Target> {
    let (k, h, w) = (keyway.median_rps, hyper.median_rps, wasmtime.median_rps);
    let want = hyper_share_target(n);
    let mut out = vec![Target {
        what: format!("HTTP keyway / raw hyper at {n} connections (median req/s)"),
        target: format!(">= {want:.2}"),
        measured: format!(
            "{:.2} ({} vs {} req/s)",
            share(k, h),
            thousands(k),
            thousands(h)
        ),
        met: h > 0.0 && k >= want * h,
    }];
    if n == WASMTIME_JUDGED_AT {
        out.push(Target {
            what: format!("HTTP keyway / wasmtime serve at {n} connections (median req/s)"),
            target: format!(">= {WASMTIME_TARGET:.0}x"),
            measured: format!(
                "{:.2}x ({} vs {} req/s)",
                share(k, w),
                thousands(k),
                thousands(w)
            ),
            met: w > 0.0 && k >= WASMTIME_TARGET * w,
        });
    }
    out
}

/// keyway's highest resident memory sampled under load against its idle memory.
pub fn rss_target(n: u32, idle_mib: f64, loaded_mib: f64) -> Target {
    Target {
        what: format!("keyway resident memory under {n}-connection load / idle"),
        target: format!("<= {RSS_TARGET:.0}x"),
        measured: format!(
            "{:.2}x ({loaded_mib:.1} vs {idle_mib:.1} MiB)",
            share(loaded_mib, idle_mib)
        ),
        met: idle_mib > 0.0 && loaded_mib <= RSS_TARGET * idle_mib,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(rps: f64, p50: f64, p99: f64) -> WrkResult {
        WrkResult {
            requests_per_sec: rps,
            p50_us: p50,
            p99_us: p99,
            non_2xx: 1,
            ..WrkResult::default()
        }
    }

    #[test]
    fn spread_takes_medians_and_the_range() {
        let s = Spread::of(&[
            round(300.0, 30.0, 90.0),
            round(100.0, 10.0, 70.0),
            round(200.0, 20.0, 80.0),
        ]);
        assert_eq!((s.median_rps, s.min_rps, s.max_rps), (200.0, 100.0, 300.0));
        assert_eq!((s.p50_us, s.p99_us), (20.0, 80.0));
        assert_eq!(s.failed, 3);
        assert_eq!(s.range(), "100–300");
    }

    #[test]
    fn median_of_an_even_count_is_the_middle_mean() {
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }

    #[test]
    fn wasmtime_is_judged_at_64_connections_only() {
        let s = |rps| Spread {
            median_rps: rps,
            ..Spread::default()
        };
        let at_8 = targets(8, &s(60.0), &s(100.0), &s(20.0));
        assert_eq!(at_8.len(), 1);
        assert!(at_8[0].met, "0.6 of raw hyper meets 0.5 at 8");
        let at_1 = targets(1, &s(55.0), &s(100.0), &s(20.0));
        assert!(!at_1[0].met, "0.55 of raw hyper misses 0.6 at 1");
        let at_64 = targets(64, &s(60.0), &s(100.0), &s(20.0));
        assert_eq!(at_64.len(), 2);
        assert!(!at_64[1].met, "3x wasmtime serve misses 5x");
    }

    #[test]
    fn rss_under_load_is_judged_against_idle() {
        assert!(rss_target(64, 20.0, 40.0).met);
        assert!(!rss_target(64, 20.0, 40.5).met);
        assert!(
            !rss_target(64, 0.0, 1.0).met,
            "no idle reading is not a pass"
        );
    }
}
