//! The cluster's TLS: a certificate authority made for this cluster alone, and a server
//! certificate it signed for 127.0.0.1 (an IP address, no host name), so a test can
//! connect with the host name verified. The server offers TLS to every connection and
//! requires it of one role, [`TLS_USER`], so a test can prove a plain connection is
//! refused where TLS is required.
//!
//! Owns: the certificates' files, the server settings that use them, and the
//! `pg_hba.conf` rules ahead of initdb's trust rules (TLS required of [`TLS_USER`], a
//! password of [`crate::PASSWORD_USER`]).
//! Must not: be trusted by anything but the tests that name [`ca_file`].

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::user::Owner;

/// The role that may connect over TLS only (a superuser, like [`crate::USER`]).
pub const TLS_USER: &str = "keyway_tls";

/// The PEM file of the certificate authority that signed the server's certificate.
pub(crate) fn ca_file(dir: &Path) -> PathBuf {
    dir.join("ca.pem")
}

/// Makes the authority and the server's certificate and key, writes them (the key
/// readable by the server's owner alone), and puts the rule that refuses [`TLS_USER`]
/// without TLS, and the one that asks [`crate::PASSWORD_USER`] for a password, ahead of
/// the trust rules initdb wrote.
pub(crate) fn prepare(dir: &Path, owner: Option<Owner>) -> Result<(), String> {
    let made = make().map_err(|e| format!("making the cluster's certificates: {e}"))?;
    let data = dir.join("data");
    write(&ca_file(dir), &made.ca, 0o644, None)?;
    write(&data.join("server.crt"), &made.cert, 0o644, owner)?;
    write(&data.join("server.key"), &made.key, 0o600, owner)?;
    let hba = data.join("pg_hba.conf");
    let rules = fs::read_to_string(&hba).map_err(|e| format!("reading {}: {e}", hba.display()))?;
    let rules = format!(
        "hostnossl all {TLS_USER} all reject\nhost all {} all scram-sha-256\n{rules}",
        crate::PASSWORD_USER
    );
    fs::write(&hba, rules).map_err(|e| format!("writing {}: {e}", hba.display()))
}

/// The server's settings that turn TLS on with the files [`prepare`] wrote.
pub(crate) fn server_args() -> Vec<String> {
    [
        "ssl=on",
        "ssl_cert_file=server.crt",
        "ssl_key_file=server.key",
    ]
    .iter()
    .flat_map(|setting| ["-c".to_string(), setting.to_string()])
    .collect()
}

struct Made {
    ca: String,
    cert: String,
    key: String,
}

fn make() -> Result<Made, rcgen::Error> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "keyway test cluster CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;
    let key = rcgen::KeyPair::generate()?;
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])?;
    let cert = params.signed_by(&key, &ca)?;
    Ok(Made {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

fn write(path: &Path, text: &str, mode: u32, owner: Option<Owner>) -> Result<(), String> {
    let shown = path.display();
    fs::write(path, text).map_err(|e| format!("writing {shown}: {e}"))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("setting the mode of {shown}: {e}"))?;
    if let Some(o) = owner {
        std::os::unix::fs::chown(path, Some(o.uid), Some(o.gid))
            .map_err(|e| format!("giving {shown} to the server's user: {e}"))?;
    }
    Ok(())
}
