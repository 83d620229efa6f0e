//! The console's activity chart: every connection's invocations of the last hour, and the
//! failed ones, as server-drawn SVG bars (no script).
//!
//! Owns: the drawing. Must not: read the store (the page hands it the counts).

use maud::{Markup, html};

const WIDTH: u32 = 600;
const HEIGHT: u32 = 120;
const AXIS: u32 = 16;

/// Bars for `(bucket start in ms, all, failed)`, oldest first.
pub(super) fn activity(buckets: &[(i64, u64, u64)]) -> Markup {
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let n = u32::try_from(buckets.len()).unwrap_or(1).max(1);
    let slot = WIDTH / n;
    let bar = slot.saturating_sub(4).max(1);
    let plot = HEIGHT - AXIS;
    let scale =
        |v: u64| -> u32 { u32::try_from(v.saturating_mul(u64::from(plot)) / max).unwrap_or(plot) };
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    let failed: u64 = buckets.iter().map(|b| b.2).sum();
    html! {
        p { "Invocations in the last hour: " strong { (total) } ", failed: " strong { (failed) } "." }
        svg class="chart" width=(WIDTH) height=(HEIGHT) viewBox={"0 0 " (WIDTH) " " (HEIGHT)}
            role="img" aria-label={"Invocations per 5 minutes: " (total) " in all, " (failed) " failed"} {
            @for (i, (start, all, bad)) in buckets.iter().enumerate() {
                @let x = u32::try_from(i).unwrap_or(0) * slot + 2;
                @let h_all = scale(*all);
                @let h_bad = scale(*bad);
                rect class="all" x=(x) y=(plot - h_all) width=(bar) height=(h_all) {
                    title { (super::when(start / 1000)) ": " (all) " invocations, " (bad) " failed" }
                }
                rect class="failed" x=(x) y=(plot - h_bad) width=(bar) height=(h_bad) {}
            }
            text x="2" y=(HEIGHT - 3) { "-60 min" }
            text x=(WIDTH - 30) y=(HEIGHT - 3) { "now" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_scaled_to_the_busiest_bucket() {
        let svg = activity(&[(0, 10, 2), (300_000, 5, 0), (600_000, 0, 0)]).into_string();
        assert!(svg.contains("in the last hour: <strong>15</strong>, failed: <strong>2</strong>"));
        // The busiest bar fills the plot (104 of 120 pixels).
        assert!(svg.contains("height=\"104\""), "{svg}");
        assert!(svg.contains("height=\"52\""), "{svg}");
    }
}
