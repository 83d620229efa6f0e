//! TLS to PostgreSQL against the throw-away cluster, which offers TLS with a certificate
//! for 127.0.0.1 signed by an authority of its own, and refuses its TLS-only role a plain
//! connection: a store opens and works over verified TLS with every connection of it
//! encrypted; a plain connection, an authority the URL does not trust and a certificate
//! for another host name are each refused, with a message that says which.

use std::path::Path;

use crate::store::{DatabaseUrl, MasterKey, Store, StoreError, TlsMode};

/// `url` with TLS required and the cluster's authority as the only trusted root.
fn verified(url: &str, roots: &Path) -> String {
    let roots: String =
        url::form_urlencoded::byte_serialize(roots.display().to_string().as_bytes()).collect();
    format!("{url}?sslmode=verify-full&sslrootcert={roots}")
}

fn open(url: &str) -> Result<Store, StoreError> {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(url).unwrap();
    Store::open_with_key_at(dir.path(), &url, &MasterKey::generate())
}

fn refusal(url: &str) -> String {
    match open(url) {
        Ok(_) => panic!("the store opened at {url}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_store_opens_over_verified_tls_and_every_connection_of_it_is_encrypted() {
    let cluster = keyway_test_postgres::cluster();
    let url = verified(&cluster.fresh_tls_only_database(), &cluster.ca_file());
    let parsed = DatabaseUrl::parse(&url).unwrap();
    match &parsed {
        DatabaseUrl::Postgres(target) => assert_eq!(target.tls_mode(), TlsMode::Verify),
        DatabaseUrl::Sqlite(_) => panic!("{url} parsed as SQLite"),
    }
    assert!(
        parsed.to_string().ends_with("?sslmode=verify-full"),
        "{parsed}"
    );
    let store = open(&url).expect("the store opens over TLS");
    let key = store.create_api_key("tls").expect("a write over TLS");
    assert!(
        store
            .list_api_keys()
            .unwrap()
            .iter()
            .any(|k| k.id == key.id),
        "a read over TLS"
    );
    let (encrypted, all): (i64, i64) = store
        .conn()
        .query_row(
            "SELECT COUNT(*) FILTER (WHERE s.ssl), COUNT(*)
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.usename = current_user AND a.datname = current_database()",
            (),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(all >= 2, "the store's connection and its listener: {all}");
    assert_eq!(encrypted, all, "every connection of the store is encrypted");
}

#[test]
fn a_plain_connection_is_refused_where_the_server_requires_tls() {
    let cluster = keyway_test_postgres::cluster();
    let err = refusal(&format!(
        "{}?sslmode=disable",
        cluster.fresh_tls_only_database()
    ));
    assert!(err.contains("no encryption"), "{err}");
}

#[test]
fn a_server_whose_authority_is_not_trusted_is_refused() {
    let cluster = keyway_test_postgres::cluster();
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&other, params.self_signed(&key).unwrap().pem()).unwrap();
    let err = refusal(&verified(&cluster.fresh_tls_only_database(), &other));
    assert!(err.contains("TLS"), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    // Without `sslrootcert` only the public roots are trusted, and they did not sign it.
    let err = refusal(&format!(
        "{}?sslmode=require",
        cluster.fresh_tls_only_database()
    ));
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[test]
fn a_certificate_for_another_host_name_is_refused() {
    let cluster = keyway_test_postgres::cluster();
    // The same server, reached as `localhost`: its certificate names 127.0.0.1 only.
    let url = cluster
        .fresh_tls_only_database()
        .replace("@127.0.0.1:", "@localhost:");
    let url = verified(&url, &cluster.ca_file()).replace("?", "?hostaddr=127.0.0.1&");
    let err = refusal(&url);
    assert!(err.contains("TLS"), "{err}");
    assert!(err.to_lowercase().contains("not valid for name"), "{err}");
}
