//! TLS to PostgreSQL: libpq's `sslmode` and `sslrootcert` URL parameters, which the Rust
//! driver only partly knows (it has disable, prefer and require, and no CA file), mapped onto
//! an OpenSSL connector. Managed databases refuse plain connections; `verify-full` is what a
//! production URL should say.
//!
//! - `disable`: plain. `prefer` (the default, as libpq): TLS when the server offers it,
//!   unverified. `require`: TLS or fail, unverified (libpq verifies only when a root
//!   certificate is given: so do we).
//! - `verify-ca`: the server's chain must lead to `sslrootcert` (or the system roots).
//! - `verify-full`: that, and the certificate must name the host connected to.

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use postgres::Client;
use postgres_openssl::MakeTlsConnector;

use crate::error::{Error, Result};

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// No TLS.
    Disable,
    /// TLS if offered; the certificate is not checked.
    Prefer,
    /// TLS required; the certificate is checked only against a given root certificate.
    Require,
    /// TLS required; the chain must lead to the root certificate.
    Ca,
    /// TLS required; the chain and the host name.
    Full,
}

/// A URL split into what the driver understands and the TLS wishes it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsUrl {
    /// The URL for the driver: `sslmode` is disable, prefer or require; no `sslrootcert`.
    pub url: String,
    /// The verification asked for.
    pub verify: Verify,
    /// The root certificate file, if named.
    pub root_cert: Option<String>,
}

/// Splits `sslmode` and `sslrootcert` out of a PostgreSQL URL.
pub fn split(url: &str) -> Result<TlsUrl> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut verify, mut root_cert, mut kept) = (Verify::Prefer, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", mode)) => verify = mode_of(mode)?,
            Some(("sslrootcert", file)) => root_cert = Some(file.to_string()),
            _ => kept.push(pair.to_string()),
        }
    }
    let driver_mode = match verify {
        Verify::Disable => "disable",
        Verify::Prefer => "prefer",
        _ => "require",
    };
    kept.push(format!("sslmode={driver_mode}"));
    Ok(TlsUrl {
        url: format!("{base}?{}", kept.join("&")),
        verify,
        root_cert,
    })
}

fn mode_of(mode: &str) -> Result<Verify> {
    Ok(match mode {
        "disable" => Verify::Disable,
        "allow" | "prefer" => Verify::Prefer,
        "require" => Verify::Require,
        "verify-ca" => Verify::Ca,
        "verify-full" => Verify::Full,
        other => {
            return Err(Error::Config(format!(
                "sslmode={other}: expected disable, prefer, require, verify-ca or verify-full"
            )))
        }
    })
}

/// The OpenSSL connector for `tls`.
fn connector(tls: &TlsUrl) -> Result<MakeTlsConnector> {
    let failed = |e: openssl::error::ErrorStack| Error::Config(format!("TLS setup: {e}"));
    let mut builder = SslConnector::builder(SslMethod::tls()).map_err(failed)?;
    if let Some(file) = &tls.root_cert {
        builder.set_ca_file(file).map_err(|e| {
            Error::Config(format!("sslrootcert {file}: cannot read it as PEM: {e}"))
        })?;
    }
    let checks_chain = matches!(tls.verify, Verify::Ca | Verify::Full)
        || (tls.verify == Verify::Require && tls.root_cert.is_some());
    if !checks_chain {
        builder.set_verify(SslVerifyMode::NONE);
    }
    let mut connector = MakeTlsConnector::new(builder.build());
    let full = tls.verify == Verify::Full;
    connector.set_callback(move |config, _| {
        config.set_verify_hostname(full);
        Ok(())
    });
    Ok(connector)
}

/// Connects with TLS as the URL asks.
pub fn connect(url: &str) -> std::result::Result<Client, ConnectError> {
    let tls = split(url).map_err(ConnectError::Setup)?;
    if tls.verify == Verify::Disable {
        return Client::connect(&tls.url, postgres::NoTls).map_err(ConnectError::Driver);
    }
    let connector = connector(&tls).map_err(ConnectError::Setup)?;
    Client::connect(&tls.url, connector).map_err(ConnectError::Driver)
}

/// Why a connection failed: our TLS setup (a configuration error) or the driver.
#[derive(Debug)]
pub enum ConnectError {
    /// A bad `sslmode` or unreadable `sslrootcert`.
    Setup(Error),
    /// The driver's error (unreachable, refused, handshake failed).
    Driver(postgres::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_tls_parameters_are_split_from_the_driver_url() {
        let tls =
            split("postgres://u@db:5432/aiops?sslmode=verify-full&sslrootcert=/ca.pem").unwrap();
        assert_eq!(tls.url, "postgres://u@db:5432/aiops?sslmode=require");
        assert_eq!(tls.verify, Verify::Full);
        assert_eq!(tls.root_cert.as_deref(), Some("/ca.pem"));
        let plain = split("postgres://u@db/aiops?application_name=x&sslmode=disable").unwrap();
        assert_eq!(
            plain.url,
            "postgres://u@db/aiops?application_name=x&sslmode=disable"
        );
        assert_eq!(
            split("postgres://u@db/aiops").unwrap().verify,
            Verify::Prefer
        );
        let error = split("postgres://db/x?sslmode=verify")
            .unwrap_err()
            .to_string();
        assert!(error.contains("sslmode=verify: expected"), "{error}");
    }
}
