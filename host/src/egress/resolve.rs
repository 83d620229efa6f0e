//! Name resolution and address vetting for one outbound request.
//!
//! Owns the [`Resolve`] seam (system resolver by default) and [`resolve_vetted`], which
//! turns a checked URL into the list of socket addresses the transport is allowed to
//! dial. The transport dials only these addresses, never the name again, so a DNS answer
//! that changes between check and connect (rebinding) cannot reach a refused address.
//! IP-literal URLs are vetted the same way, without a lookup.
//!
//! It must not take a target from anywhere but the checked URL (never from headers).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

use super::addr::AddressPolicy;
use super::error::EgressError;
use super::policy::origin_of;
use crate::types::BoxFuture;

/// At most this many vetted addresses are kept per request.
const MAX_ADDRESSES: usize = 16;

/// Looks a host name up. The default is the operating system's resolver.
pub trait Resolve: Send + Sync {
    /// All addresses `host` resolves to, each with `port`.
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>>;
}

/// The system resolver, through tokio's blocking-pool `getaddrinfo`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SystemResolver;

impl Resolve for SystemResolver {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// The default resolver as a shareable handle.
pub(crate) fn system_resolver() -> Arc<dyn Resolve> {
    Arc::new(SystemResolver)
}

/// Resolves the URL's host and keeps only addresses `policy` admits. Fails with
/// `denied` when none is left, naming the refused range of the first address.
pub(crate) async fn resolve_vetted(
    url: &Url,
    policy: &AddressPolicy,
    resolver: &dyn Resolve,
) -> Result<Vec<SocketAddr>, EgressError> {
    let port = url
        .port_or_known_default()
        .ok_or_else(|| EgressError::invalid("url has no port and no default port"))?;
    let candidates: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(name)) => resolver.lookup(name, port).await.map_err(|err| {
            EgressError::network(format!("could not resolve host `{name}`: {err}"))
        })?,
        None => return Err(EgressError::invalid("url has no host")),
    };
    let mut vetted: Vec<SocketAddr> = Vec::new();
    let mut first_refusal: Option<(IpAddr, &'static str)> = None;
    for addr in candidates {
        match policy.check(addr.ip()) {
            Ok(()) if !vetted.contains(&addr) => vetted.push(addr),
            Ok(()) => {}
            Err(range) => {
                first_refusal.get_or_insert((addr.ip(), range));
            }
        }
    }
    vetted.truncate(MAX_ADDRESSES);
    if !vetted.is_empty() {
        return Ok(vetted);
    }
    Err(match first_refusal {
        Some((ip, range)) => EgressError::denied(format!(
            "{} resolves to {ip}, a {range} address, which the host does not allow",
            origin_of(url)
        )),
        None => EgressError::network(format!("host of {} resolved to no address", origin_of(url))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::error::EgressErrorCode;

    struct Fixed(Vec<IpAddr>);

    impl Resolve for Fixed {
        fn lookup<'a>(
            &'a self,
            _host: &'a str,
            port: u16,
        ) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>> {
            let out = self.0.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
            Box::pin(async move { Ok(out) })
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[tokio::test]
    async fn name_resolving_to_metadata_is_denied() {
        let url = Url::parse("https://rebind.example/").unwrap();
        let err = resolve_vetted(
            &url,
            &AddressPolicy::default(),
            &Fixed(ips(&["169.254.169.254"])),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code, EgressErrorCode::Denied);
        assert!(err.message.contains("169.254.169.254"), "{}", err.message);
    }

    #[tokio::test]
    async fn refused_answers_are_filtered_out() {
        let url = Url::parse("https://mixed.example:8443/").unwrap();
        let addrs = resolve_vetted(
            &url,
            &AddressPolicy::default(),
            &Fixed(ips(&["10.0.0.1", "93.184.216.34", "::1", "93.184.216.34"])),
        )
        .await
        .unwrap();
        assert_eq!(
            addrs,
            vec!["93.184.216.34:8443".parse::<SocketAddr>().unwrap()]
        );
    }

    #[tokio::test]
    async fn ip_literals_are_vetted_without_lookup() {
        let none = Fixed(Vec::new());
        let policy = AddressPolicy::default();
        for raw in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let url = Url::parse(raw).unwrap();
            let err = resolve_vetted(&url, &policy, &none).await.unwrap_err();
            assert_eq!(err.code, EgressErrorCode::Denied, "{raw}");
        }
        let allowed = AddressPolicy::new(vec!["127.0.0.1/32".parse().unwrap()]);
        let url = Url::parse("http://127.0.0.1:9/").unwrap();
        assert_eq!(
            resolve_vetted(&url, &allowed, &none).await.unwrap().len(),
            1
        );
    }

    #[tokio::test]
    async fn localhost_via_system_resolver_is_refused_without_cidr() {
        let url = Url::parse("http://localhost:9/").unwrap();
        let err = resolve_vetted(&url, &AddressPolicy::default(), &SystemResolver)
            .await
            .unwrap_err();
        assert_eq!(err.code, EgressErrorCode::Denied);
    }
}
