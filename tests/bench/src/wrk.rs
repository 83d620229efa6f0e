//! Driving `wrk` (the load generator) and reading its report. The API key reaches wrk
//! through an environment variable read by a Lua script, never through its argv.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The environment variable the wrk script reads the bearer key from.
const KEY_VAR: &str = "KEYWAY_BENCH_API_KEY";

const SCRIPT: &str = r#"-- Sends the bearer key from the environment with every request.
local key = os.getenv("KEYWAY_BENCH_API_KEY")
if key ~= nil and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
"#;

/// What one wrk run measured.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct WrkResult {
    pub requests_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub requests: u64,
    pub non_2xx: u64,
    pub socket_errors: u64,
}

pub struct Wrk {
    script: PathBuf,
}

impl Wrk {
    /// Checks wrk is installed and writes its script into `dir`.
    pub fn new(dir: &Path) -> anyhow::Result<Wrk> {
        let found = Command::new("wrk").arg("--version").output();
        // `wrk --version` prints its banner and exits 1; what matters is that it ran.
        if found.is_err() {
            bail!("wrk is not installed; scripts/bench installs it (Debian package `wrk`)");
        }
        let script = dir.join("keyway-bench.lua");
        std::fs::write(&script, SCRIPT).context("writing the wrk script")?;
        Ok(Wrk { script })
    }

    /// Loads `url` with `connections` keep-alive connections on one wrk thread for
    /// `duration`, sending `key` as a bearer token.
    pub fn run(
        &self,
        url: &str,
        connections: u32,
        duration: Duration,
        key: &str,
    ) -> anyhow::Result<WrkResult> {
        let out = Command::new("wrk")
            .args(["-t1", &format!("-c{connections}")])
            .arg(format!("-d{}s", duration.as_secs().max(1)))
            .arg("--latency")
            .arg("-s")
            .arg(&self.script)
            .arg(url)
            .env(KEY_VAR, key)
            .output()
            .context("running wrk")?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "wrk failed on {url}: {}{}",
                text,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        parse(&text).with_context(|| format!("reading wrk's report for {url}:\n{text}"))
    }
}

/// Reads wrk's `--latency` report.
pub fn parse(text: &str) -> anyhow::Result<WrkResult> {
    let mut r = WrkResult::default();
    let mut saw_rate = false;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            r.requests_per_sec = v.trim().parse().context("Requests/sec")?;
            saw_rate = true;
        } else if let Some(v) = line.strip_prefix("50%") {
            r.p50_us = duration_us(v.trim())?;
        } else if let Some(v) = line.strip_prefix("99%") {
            r.p99_us = duration_us(v.trim())?;
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            r.non_2xx = v.trim().parse().context("Non-2xx count")?;
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            r.socket_errors = v
                .split(',')
                .filter_map(|part| part.split_whitespace().last())
                .filter_map(|n| n.parse::<u64>().ok())
                .sum();
        } else if line.contains(" requests in ") {
            r.requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    if !saw_rate {
        bail!("no Requests/sec line");
    }
    Ok(r)
}

/// `21.00us`, `1.20ms`, `2.00s` or `1.00m` in microseconds.
fn duration_us(v: &str) -> anyhow::Result<f64> {
    let split = v
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in {v:?}"))?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().with_context(|| format!("not a number: {v:?}"))?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        _ => bail!("unknown unit in {v:?}"),
    };
    Ok(n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 5s test @ http://127.0.0.1:8787/ping
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   132.51us   40.12us   2.10ms   90.00%
    Req/Sec    60.10k     1.20k   62.00k    80.00%
  Latency Distribution
     50%  125.00us
     75%  140.00us
     90%  160.00us
     99%    1.20ms
  299001 requests in 5.00s, 25.09MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:  59800.20
Transfer/sec:      5.02MB
";

    #[test]
    fn reads_a_latency_report() {
        let r = parse(SAMPLE).expect("parses");
        assert!((r.requests_per_sec - 59800.20).abs() < 1e-6);
        assert!((r.p50_us - 125.0).abs() < 1e-9);
        assert!((r.p99_us - 1200.0).abs() < 1e-9);
        assert_eq!(r.requests, 299001);
        assert_eq!(r.non_2xx, 7);
        assert_eq!(r.socket_errors, 3);
    }

    #[test]
    fn a_report_without_a_rate_is_refused() {
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }

    #[test]
    fn units_convert() {
        assert_eq!(duration_us("2.00s").ok(), Some(2e6));
        assert!(duration_us("3.0").is_err());
        assert!(duration_us("3.0h").is_err());
    }
}
