//! Redaction of an invocation's secret values from text that leaves the invocation.
//!
//! Owns [`Redactor`]: built once per invocation from the secret values it knows (access
//! token, refresh token, client secret, secret settings), it replaces every occurrence
//! of any of them with [`REDACTED`] in a string or in every string of a JSON value.
//! Values shorter than [`MIN_SECRET_LEN`] are ignored so that a one-letter "secret" does
//! not shred ordinary text. Matching uses one Aho-Corasick automaton, so the cost does
//! not grow with the number of secrets per byte scanned.
//!
//! Text is always redacted before it is clipped: [`Redactor::redact_clipped`] for a whole
//! string, [`Redactor::redact_stream_head`] for the kept start of a longer stream. A
//! secret straddling a cut is therefore replaced whole, never left half readable.
//!
//! It must not store, log or print the values it holds: its `Debug` shows only a count.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use secrecy::{ExposeSecret, SecretString};

/// What every secret occurrence is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Secret values shorter than this many bytes are not redacted.
pub(crate) const MIN_SECRET_LEN: usize = 4;

/// What ends a text that was cut to its cap.
pub(crate) const CLIPPED: &str = "…[clipped]";

/// One slot holding a redactor built for a list of values (plus whatever fixed secrets its
/// builder adds), handed out again while the same list is asked for: building an
/// automaton costs far more than the scans of one invocation, and a connection hands out
/// or injects the same token, in the same spellings, call after call. Read and replaced
/// without a lock; another list replaces the slot.
#[derive(Default)]
pub struct KeptRedactor(arc_swap::ArcSwapOption<KeptSlot>);

struct KeptSlot {
    values: Box<[SecretString]>,
    redactor: Arc<Redactor>,
}

impl KeptRedactor {
    /// The kept redactor if it was built for exactly `values`; otherwise `build`'s, which
    /// is kept in its place.
    pub fn get_or_build(
        &self,
        values: &[String],
        build: impl FnOnce() -> Redactor,
    ) -> Arc<Redactor> {
        if let Some(slot) = &*self.0.load()
            && slot.values.len() == values.len()
            && slot
                .values
                .iter()
                .zip(values)
                .all(|(kept, v)| kept.expose_secret() == v)
        {
            return slot.redactor.clone();
        }
        let redactor = Arc::new(build());
        self.0.store(Some(Arc::new(KeptSlot {
            values: values
                .iter()
                .map(|v| SecretString::from(v.clone()))
                .collect(),
            redactor: redactor.clone(),
        })));
        redactor
    }
}

impl fmt::Debug for KeptRedactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.0.load().as_ref().map_or(0, |slot| slot.values.len());
        write!(f, "KeptRedactor({held} values)")
    }
}

/// Replaces known secret values in text. Build one per invocation and share it by reference.
#[derive(Default)]
pub struct Redactor {
    matcher: Option<AhoCorasick>,
    count: usize,
    /// Bytes of the longest pattern: how far past a cut a match can reach.
    longest: usize,
}

impl Redactor {
    /// A redactor that knows no secrets and returns text unchanged.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds a redactor from secret values. Empty and too-short values are skipped.
    ///
    /// Besides each value itself, its form-urlencoded spelling is redacted too when it
    /// differs, so a secret that reached a query string is still caught.
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut patterns: Vec<String> = Vec::new();
        for secret in secrets {
            let secret = secret.as_ref();
            if secret.len() < MIN_SECRET_LEN {
                continue;
            }
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            if encoded != secret {
                patterns.push(encoded);
            }
            // As a JSON string would carry it (a reflecting endpoint answers JSON), also
            // with `/` escaped as some serializers do.
            if let Ok(quoted) = serde_json::to_string(secret) {
                let escaped = &quoted[1..quoted.len() - 1];
                if escaped != secret {
                    patterns.push(escaped.to_owned());
                }
                if escaped.contains('/') {
                    patterns.push(escaped.replace('/', "\\/"));
                }
            }
            patterns.push(secret.to_owned());
        }
        patterns.sort();
        patterns.dedup();
        let count = patterns.len();
        let longest = patterns.iter().map(String::len).max().unwrap_or(0);
        if patterns.is_empty() {
            return Self::empty();
        }
        // Leftmost-longest: when one secret contains another, the whole of the longer
        // one is replaced rather than leaving its tail readable. A contiguous NFA, not the
        // DFA the builder would pick for so few patterns: for four spellings of a token it
        // builds in about 20 µs against 80, and scans as fast where a prefilter does the
        // work (text with no secret) and within 15% where secrets are dense. A redactor
        // is built whenever a token changes, so a connector alternating credentials must
        // not be able to make each build expensive.
        // Should that kind refuse the patterns (it has a size limit the builder's own
        // choice falls back from), the builder chooses.
        let build = |kind| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(kind)
                .build(&patterns)
        };
        let matcher = build(Some(AhoCorasickKind::ContiguousNFA))
            .or_else(|_| build(None))
            .ok();
        Self {
            matcher,
            count,
            longest,
        }
    }

    /// Whether this redactor knows no secret at all.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// Returns `text` with every known secret replaced by [`REDACTED`]; borrows when
    /// nothing matched.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match &self.matcher {
            Some(matcher) if matcher.is_match(text) => {
                let mut out = String::with_capacity(text.len());
                matcher.replace_all_with(text, &mut out, |_, _, dst| {
                    dst.push_str(REDACTED);
                    true
                });
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(text),
        }
    }

    /// Returns `bytes` with every known secret replaced by [`REDACTED`]; borrows when
    /// nothing matched. For bodies, which need not be UTF-8.
    pub(crate) fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        match &self.matcher {
            Some(matcher) if matcher.is_match(bytes) => {
                let mut out = Vec::with_capacity(bytes.len());
                matcher.replace_all_with_bytes(bytes, &mut out, |_, _, dst| {
                    dst.extend_from_slice(REDACTED.as_bytes());
                    true
                });
                Cow::Owned(out)
            }
            _ => Cow::Borrowed(bytes),
        }
    }

    /// Owned convenience over [`Redactor::redact`].
    pub(crate) fn redact_string(&self, text: &str) -> String {
        self.redact(text).into_owned()
    }

    /// Bytes of the longest value this redactor replaces (0 when it knows none). A cut
    /// made this far or more past a position cannot split a match starting there.
    pub(crate) fn longest_secret(&self) -> usize {
        self.longest
    }

    /// Redacts the whole of `text`, then cuts the result to at most `max_bytes` on a
    /// character boundary and appends [`CLIPPED`] when anything was cut. Because the cut
    /// comes after redaction, a secret across the cut point is replaced whole.
    pub(crate) fn redact_clipped(&self, text: &str, max_bytes: usize) -> String {
        let redacted = self.redact(text);
        if redacted.len() <= max_bytes {
            return redacted.into_owned();
        }
        let mut end = max_bytes;
        while !redacted.is_char_boundary(end) {
            end -= 1;
        }
        let mut out = String::with_capacity(end + CLIPPED.len());
        out.push_str(&redacted[..end]);
        out.push_str(CLIPPED);
        out
    }

    /// Redacts the start of a byte stream of which only `head` was kept, and returns the
    /// redacted text of at most its first `max_bytes` input bytes, with how many input
    /// bytes that text covers.
    ///
    /// When `complete` is false the stream went on past `head`, so a match could start
    /// near the end of `head` and finish beyond it; only input that no such match can
    /// reach is used: up to `head.len() + 1 - longest_secret()` bytes. A match that
    /// starts inside the covered input is replaced whole. Keep a margin of at least
    /// [`Redactor::longest_secret`] bytes past `max_bytes` to get all `max_bytes`.
    pub(crate) fn redact_stream_head(
        &self,
        head: &[u8],
        complete: bool,
        max_bytes: usize,
    ) -> (Vec<u8>, usize) {
        let visible = if complete || self.longest == 0 {
            head.len()
        } else {
            (head.len() + 1).saturating_sub(self.longest)
        };
        let limit = max_bytes.min(visible);
        let Some(matcher) = &self.matcher else {
            return (head[..limit].to_vec(), limit);
        };
        let mut out = Vec::with_capacity(limit);
        let mut pos = 0;
        for m in matcher.find_iter(head) {
            if m.start() >= limit {
                break;
            }
            out.extend_from_slice(&head[pos..m.start()]);
            out.extend_from_slice(REDACTED.as_bytes());
            pos = m.end();
        }
        if pos < limit {
            out.extend_from_slice(&head[pos..limit]);
        }
        (out, pos.max(limit))
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("patterns", &self.count)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "canary-7f3a9c-SECRET";

    #[test]
    fn replaces_every_occurrence() {
        let r = Redactor::new([CANARY]);
        let out = r.redact_string(&format!("a {CANARY} b {CANARY}{CANARY}"));
        assert_eq!(out, "a [REDACTED] b [REDACTED][REDACTED]");
    }

    #[test]
    fn borrows_when_clean_and_empty_redactor_is_identity() {
        let r = Redactor::new([CANARY]);
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
        let e = Redactor::empty();
        assert!(e.is_empty());
        assert_eq!(e.redact(CANARY), CANARY);
    }

    #[test]
    fn ignores_short_and_empty_values() {
        let r = Redactor::new(["", "a", "abc", "abcd"]);
        assert_eq!(r.redact("a abc abcd"), "a abc [REDACTED]");
    }

    #[test]
    fn longer_secret_wins_over_its_prefix() {
        let r = Redactor::new(["token", "token-with-tail"]);
        assert_eq!(
            r.redact("x token-with-tail y token"),
            "x [REDACTED] y [REDACTED]"
        );
    }

    #[test]
    fn many_secrets() {
        let secrets: Vec<String> = (0..2000).map(|i| format!("secret-value-{i:05}")).collect();
        let r = Redactor::new(&secrets);
        assert_eq!(
            r.redact("pre secret-value-01999 post"),
            "pre [REDACTED] post"
        );
        assert_eq!(r.redact("secret-value-0"), "secret-value-0");
    }

    #[test]
    fn urlencoded_form_is_redacted() {
        let r = Redactor::new(["p@ss word/+="]);
        assert_eq!(r.redact("q=p%40ss+word%2F%2B%3D&x=1"), "q=[REDACTED]&x=1");
    }

    #[test]
    fn bytes_and_json_escaped_spellings() {
        let r = Redactor::new(["tok/en\"quoted"]);
        let body = br#"{"echo":"tok\/en\"quoted","raw":"tok/en\"quoted"}"#;
        let clean = r.redact_bytes(body);
        let text = String::from_utf8_lossy(&clean);
        assert!(!text.contains("tok"), "{text}");
        let binary = [
            0xff, 0x00, b't', b'o', b'k', b'/', b'e', b'n', b'"', b'q', b'u', b'o', b't', b'e',
            b'd',
        ];
        assert_eq!(
            &*r.redact_bytes(&binary),
            &[&[0xff, 0x00][..], REDACTED.as_bytes()].concat()[..]
        );
        assert!(matches!(r.redact_bytes(b"clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_secret_across_the_clip_point_is_replaced_whole() {
        let r = Redactor::new([CANARY]);
        // The canary starts 5 bytes before the cut: clipping first would keep "canar".
        let text = format!("{}{CANARY} tail", "x".repeat(95));
        let out = r.redact_clipped(&text, 100);
        assert!(!out.contains("canar"), "{out}");
        assert_eq!(out, format!("{}[REDA{CLIPPED}", "x".repeat(95)));
        assert_eq!(r.redact_clipped("short", 100), "short");
    }

    #[test]
    fn clipping_respects_char_boundaries() {
        let r = Redactor::empty();
        let out = r.redact_clipped("ééé", 3);
        assert_eq!(out, format!("é{CLIPPED}"));
    }

    #[test]
    fn stream_head_never_emits_part_of_a_secret() {
        let r = Redactor::new([CANARY]);
        let len = CANARY.len();
        // For every position of the canary around the cap and every kept length, no
        // prefix of the canary is emitted.
        for start in 80..130 {
            let stream = format!("{}{CANARY}{}", "a".repeat(start), "b".repeat(200));
            for kept in 100..stream.len() {
                let head = &stream.as_bytes()[..kept];
                let complete = kept == stream.len();
                let (out, covered) = r.redact_stream_head(head, complete, 100);
                let out = String::from_utf8(out).expect("utf8");
                assert!(!out.contains("canar"), "start {start} kept {kept}: {out}");
                assert!(covered <= kept);
                if kept >= 100 + len {
                    assert!(covered >= 100, "margin kept, yet only {covered} covered");
                }
            }
        }
    }

    #[test]
    fn stream_head_replaces_a_secret_starting_before_the_cap() {
        let r = Redactor::new([CANARY]);
        let stream = format!("{}{CANARY}zz", "a".repeat(98));
        let (out, covered) = r.redact_stream_head(stream.as_bytes(), false, 100);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            format!("{}[REDACTED]", "a".repeat(98))
        );
        assert_eq!(covered, 98 + CANARY.len());
        let (out, covered) = r.redact_stream_head(b"plain", true, 100);
        assert_eq!((out.as_slice(), covered), (b"plain".as_slice(), 5));
    }

    #[test]
    fn debug_hides_values() {
        let r = Redactor::new([CANARY]);
        assert!(!format!("{r:?}").contains(CANARY));
    }

    #[test]
    fn a_kept_redactor_serves_only_its_own_values() {
        let kept = KeptRedactor::default();
        let one = vec![
            "token-one-0123456789".to_string(),
            "Bearer token-one-0123456789".to_string(),
        ];
        let mut builds = 0;
        for _ in 0..3 {
            let r = kept.get_or_build(&one, || {
                builds += 1;
                Redactor::new(&one)
            });
            assert!(
                !r.redact_string("x token-one-0123456789 y")
                    .contains("token-one")
            );
        }
        assert_eq!(builds, 1, "the same values are served the kept redactor");
        // Another token (a refresh happened), or the same one among other values, is
        // never served the old one's redactor.
        for other in [
            vec!["token-two-0123456789".to_string()],
            vec!["token-one-0123456789".to_string()],
        ] {
            let mut built = false;
            let r = kept.get_or_build(&other, || {
                built = true;
                Redactor::new(&other)
            });
            assert!(
                built,
                "{other:?} was served a redactor built for other values"
            );
            assert_eq!(r.redact_string(&other[0]), REDACTED);
        }
        assert!(!format!("{kept:?}").contains("token"));
    }
}
