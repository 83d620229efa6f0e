//! TLS to PostgreSQL: the `sslmode` and `sslrootcert` parameters of a `postgres://` URL,
//! and the connector every PostgreSQL connection is made with.
//!
//! Owns: reading those two parameters (the driver knows neither `verify-full` nor
//! `sslrootcert`, so they are taken out of the URL before it sees it), the certificate
//! roots a connection trusts, and the rustls configuration.
//! Must not: connect without TLS when TLS was asked for, accept a server certificate that
//! does not chain to the trusted roots or does not name the host, or let `prefer` fall
//! back to plain text unseen.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Whether a connection is encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP (`sslmode=disable`, or no `sslmode`): for loopback or a private network.
    Disable,
    /// TLS or no connection (`sslmode=require`, `verify-ca` or `verify-full`); the server's
    /// certificate must chain to the trusted roots and name the host, in every one of them.
    Verify,
}

/// What a URL asked for: the mode and, if given, the file of trusted roots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TlsParams {
    pub(crate) mode: TlsMode,
    pub(crate) root_file: Option<PathBuf>,
}

/// Takes `sslmode` and `sslrootcert` out of `url`'s query, leaving every other parameter
/// as written. Fails on a mode Keyway does not offer, naming the ones it does.
pub(crate) fn take_params(url: &str) -> Result<(String, TlsParams), String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let mut mode = None;
    let mut root_file = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = url::form_urlencoded::parse(pair.as_bytes())
            .next()
            .unwrap_or_default();
        // Given twice, one of the two would be dropped unseen (a `disable` after a
        // `verify-full`, say): refused instead.
        let twice = |name: &str| format!("`{name}` is given twice in the URL; keep one");
        match key.as_ref() {
            "sslmode" if mode.is_some() => return Err(twice("sslmode")),
            "sslrootcert" if root_file.is_some() => return Err(twice("sslrootcert")),
            "sslmode" => mode = Some(parse_mode(&value)?),
            "sslrootcert" => root_file = Some(value.into_owned()),
            _ => kept.push(pair),
        }
    }
    let mode = mode.unwrap_or(TlsMode::Disable);
    let root_file = match root_file {
        // libpq's word for the system's roots, which are what Keyway trusts by default.
        Some(file) if file == "system" => None,
        Some(file) if file.is_empty() => {
            return Err("`sslrootcert` is empty; give the path of a PEM file".into());
        }
        Some(file) => {
            if mode == TlsMode::Disable {
                return Err(
                    "`sslrootcert` is given but TLS is not: add `sslmode=verify-full` to the URL"
                        .into(),
                );
            }
            Some(PathBuf::from(file))
        }
        None => None,
    };
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, TlsParams { mode, root_file }))
}

fn parse_mode(value: &str) -> Result<TlsMode, String> {
    match value {
        "disable" => Ok(TlsMode::Disable),
        "require" | "verify-ca" | "verify-full" => Ok(TlsMode::Verify),
        "allow" | "prefer" => Err(format!(
            "`sslmode={value}` would fall back to plain text without saying so; choose \
             `sslmode=verify-full` (TLS, the server's certificate and host name verified) or \
             `sslmode=disable` (plain TCP, for a loopback or private network)"
        )),
        _ => Err(format!(
            "`sslmode` is `{}`, not one of disable, require, verify-ca, verify-full",
            value.chars().take(40).collect::<String>()
        )),
    }
}

/// The connector for `params`: rustls with ring and safe protocol versions, trusting the
/// certificates of `params.root_file`, or Mozilla's roots when none is named. (With
/// `sslmode=disable` the driver never uses it.)
pub(crate) fn connector(params: &TlsParams) -> Result<MakeRustlsConnect, String> {
    let roots = match &params.root_file {
        Some(file) => roots_from(file)?,
        None => rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("setting up TLS for PostgreSQL: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Every certificate of the PEM file `file`, as trusted roots.
fn roots_from(file: &Path) -> Result<rustls::RootCertStore, String> {
    let shown = file.display();
    let bytes = std::fs::read(file).map_err(|e| format!("reading sslrootcert {shown}: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
        let cert = cert.map_err(|e| {
            format!(
                "sslrootcert {shown}: certificate {} is not readable PEM: {e}",
                i + 1
            )
        })?;
        roots.add(cert).map_err(|e| {
            format!(
                "sslrootcert {shown}: certificate {} cannot be a root: {e}",
                i + 1
            )
        })?;
    }
    if roots.is_empty() {
        return Err(format!(
            "sslrootcert {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_and_the_rest_kept() {
        let (rest, params) =
            take_params("postgres://u@h:5/db?connect_timeout=5&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x")
                .unwrap();
        assert_eq!(
            rest,
            "postgres://u@h:5/db?connect_timeout=5&application_name=x"
        );
        assert_eq!(params.mode, TlsMode::Verify);
        assert_eq!(params.root_file, Some(PathBuf::from("/etc/ca.pem")));
        let (rest, params) = take_params("postgres://u@h/db").unwrap();
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(params.mode, TlsMode::Disable);
        let (rest, params) = take_params("postgres://u@h/db?sslmode=require").unwrap();
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(params.mode, TlsMode::Verify);
        let (_, params) =
            take_params("postgres://u@h/db?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!(params.root_file, None);
    }

    #[test]
    fn modes_that_fall_back_or_are_unknown_are_refused_by_name() {
        for mode in ["prefer", "allow"] {
            let err = take_params(&format!("postgres://u@h/db?sslmode={mode}")).unwrap_err();
            assert!(err.contains(&format!("sslmode={mode}")), "{err}");
            assert!(err.contains("verify-full"), "{err}");
        }
        let err = take_params("postgres://u@h/db?sslmode=maybe").unwrap_err();
        assert!(
            err.contains("`maybe`") && err.contains("verify-full"),
            "{err}"
        );
        let err = take_params("postgres://u@h/db?sslrootcert=/ca.pem").unwrap_err();
        assert!(
            err.contains("sslrootcert") && err.contains("sslmode"),
            "{err}"
        );
        let err = take_params("postgres://u@h/db?sslmode=require&sslrootcert=").unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let err = take_params("postgres://u@h/db?sslmode=verify-full&sslmode=disable").unwrap_err();
        assert!(err.contains("`sslmode` is given twice"), "{err}");
        let err = take_params("postgres://u@h/db?sslmode=require&sslrootcert=/a&sslrootcert=/b")
            .unwrap_err();
        assert!(err.contains("`sslrootcert` is given twice"), "{err}");
    }

    #[test]
    fn a_root_file_that_is_missing_or_holds_no_certificate_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let params = TlsParams {
            mode: TlsMode::Verify,
            root_file: Some(missing.clone()),
        };
        let err = connector(&params).err().unwrap();
        assert!(err.contains(&missing.display().to_string()), "{err}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let params = TlsParams {
            mode: TlsMode::Verify,
            root_file: Some(empty.clone()),
        };
        let err = connector(&params).err().unwrap();
        assert!(err.contains("no PEM certificate"), "{err}");
        assert!(err.contains(&empty.display().to_string()), "{err}");
    }
}
