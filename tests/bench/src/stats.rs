//! Order statistics over samples, and the number formats the tables use.

use std::time::Duration;

/// Median and 99th percentile of a set of timings.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub median: Duration,
    pub p99: Duration,
}

impl Spread {
    pub fn of(mut samples: Vec<Duration>) -> Spread {
        if samples.is_empty() {
            return Spread {
                median: Duration::ZERO,
                p99: Duration::ZERO,
            };
        }
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        Spread {
            median: at(0.5),
            p99: at(0.99),
        }
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "median_us": us(self.median), "p99_us": us(self.p99) })
    }
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `a / b` as "2.5x", or "-" when `b` is zero.
pub fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "-".into()
    }
}

/// A count with thousands separators: 61,734.
pub fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_picks_order_statistics() {
        let samples = (1..=100).map(Duration::from_micros).collect();
        let s = Spread::of(samples);
        assert_eq!(s.median, Duration::from_micros(51));
        assert_eq!(s.p99, Duration::from_micros(99));
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(61734.4), "61,734");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
    }

    #[test]
    fn ratio_of_zero_is_a_dash() {
        assert_eq!(ratio(3.0, 0.0), "-");
        assert_eq!(ratio(3.0, 2.0), "1.50x");
    }
}
