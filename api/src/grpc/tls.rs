//! The gRPC endpoint's TLS identity: the certificate and key given with `--grpc-tls-cert` and
//! `--grpc-tls-key`, or a CA and a server certificate generated into `<data-dir>/grpc-tls/`.
//!
//! The official Python and Node clients ignore `tlsVerifyCert=false`, so a client of a server
//! without a public certificate needs the CA file (`?tlsCaFile=PATH`). The CA is therefore
//! generated once and kept: a client configured with it keeps working across restarts. The server
//! certificate is re-issued by the same CA when a start asks for a name it does not carry yet
//! (`--grpc-tls-san`), so adding a name never invalidates the CA file clients hold.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use serde::{Deserialize, Serialize};

/// The directory under the data directory that holds the generated files.
pub const TLS_DIR: &str = "grpc-tls";
const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server.key";
/// The names the current server certificate carries, so that a start knows whether to re-issue it.
const SERVER_NAMES: &str = "server-names.json";
const CA_COMMON_NAME: &str = "journey gRPC CA";
const SERVER_COMMON_NAME: &str = "journey";

/// The names every generated server certificate carries: the loopback names a local client uses.
pub const DEFAULT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The PEM certificate chain and key the endpoint presents, and where the CA that signed it is
/// when journey generated it.
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// The generated CA's certificate file, for clients' `tlsCaFile`; `None` for a given certificate.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS {what} {path}: {source}; give a readable PEM file")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the TLS {what} {path} holds no PEM block (`-----BEGIN ...`); give a PEM file")]
    NotPem { what: &'static str, path: PathBuf },
    #[error("cannot write the generated TLS files under {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the generated TLS files under {path} are damaged ({message}); remove that directory to generate a new CA (clients then need the new ca.pem)")]
    Damaged { path: PathBuf, message: String },
    #[error(
        "`{0}` is not a usable certificate name (--grpc-tls-san): give a DNS name or an IP address"
    )]
    BadName(String),
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// Reads a given certificate chain and key (both PEM).
pub fn load_given(cert: &Path, key: &Path) -> Result<TlsIdentity, TlsError> {
    Ok(TlsIdentity {
        cert_pem: read_pem("certificate", cert)?,
        key_pem: read_pem("key", key)?,
        ca_file: None,
    })
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })?;
    if !bytes.windows(11).any(|window| window == b"-----BEGIN ") {
        return Err(TlsError::NotPem {
            what,
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

#[derive(Debug, Serialize, Deserialize)]
struct ServerNames {
    names: BTreeSet<String>,
}

/// The generated identity under `<data_dir>/grpc-tls/`: the CA is created on first use and kept;
/// the server certificate is reused while it carries every name asked for (the loopback names and
/// `extra_names`), and re-issued by the same CA otherwise.
pub fn generated(data_dir: &Path, extra_names: &[String]) -> Result<TlsIdentity, TlsError> {
    let dir = data_dir.join(TLS_DIR);
    let mut wanted: BTreeSet<String> = DEFAULT_NAMES
        .iter()
        .map(|name| (*name).to_owned())
        .collect();
    for name in extra_names {
        let name = name.trim();
        if name.is_empty()
            || name
                .chars()
                .any(|c| c.is_whitespace() || c == '/' || c == ',')
        {
            return Err(TlsError::BadName(name.to_owned()));
        }
        wanted.insert(name.to_owned());
    }
    std::fs::create_dir_all(&dir).map_err(|source| TlsError::Write {
        path: dir.clone(),
        source,
    })?;

    let ca_key = match read_optional(&dir.join(CA_KEY))? {
        Some(pem) => KeyPair::from_pem(&pem).map_err(|error| TlsError::Damaged {
            path: dir.clone(),
            message: format!("{CA_KEY}: {error}"),
        })?,
        None => {
            let key = KeyPair::generate()?;
            let ca_cert = ca_params().self_signed(&key)?;
            write_secret(&dir.join(CA_KEY), key.serialize_pem().as_bytes())?;
            write_public(&dir.join(CA_CERT), ca_cert.pem().as_bytes())?;
            // A new CA invalidates any server certificate left from an earlier one.
            let _ = std::fs::remove_file(dir.join(SERVER_NAMES));
            key
        }
    };
    if !dir.join(CA_CERT).exists() {
        return Err(TlsError::Damaged {
            path: dir.clone(),
            message: format!("{CA_KEY} is there but {CA_CERT} is missing"),
        });
    }

    let current = read_optional(&dir.join(SERVER_NAMES))?
        .and_then(|json| serde_json::from_str::<ServerNames>(&json).ok());
    let reusable = current.is_some_and(|current| wanted.is_subset(&current.names))
        && dir.join(SERVER_CERT).exists()
        && dir.join(SERVER_KEY).exists();
    if !reusable {
        let names: Vec<String> = wanted.iter().cloned().collect();
        let mut params = CertificateParams::new(names.clone())
            .map_err(|_| TlsError::BadName(names.join(", ")))?;
        params
            .distinguished_name
            .push(DnType::CommonName, SERVER_COMMON_NAME);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        // The issuer is rebuilt from the CA's parameters and its kept key: that signs exactly as
        // the CA certificate written on first start, whose subject and key these are.
        let issuer = Issuer::new(ca_params(), ca_key);
        let cert = params.signed_by(&key, &issuer)?;
        write_secret(&dir.join(SERVER_KEY), key.serialize_pem().as_bytes())?;
        write_public(&dir.join(SERVER_CERT), cert.pem().as_bytes())?;
        let json = serde_json::to_vec_pretty(&ServerNames { names: wanted }).map_err(|error| {
            TlsError::Damaged {
                path: dir.clone(),
                message: error.to_string(),
            }
        })?;
        write_public(&dir.join(SERVER_NAMES), &json)?;
    }
    Ok(TlsIdentity {
        cert_pem: read_pem("certificate", &dir.join(SERVER_CERT))?,
        key_pem: read_pem("key", &dir.join(SERVER_KEY))?,
        ca_file: Some(dir.join(CA_CERT)),
    })
}

/// The CA's parameters: the same on every start, so that its kept key signs as the CA certificate.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn read_optional(path: &Path) -> Result<Option<String>, TlsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TlsError::Read {
            what: "file",
            path: path.to_owned(),
            source,
        }),
    }
}

fn write_public(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    write_with_mode(path, bytes, 0o644)
}

/// Private keys are readable by the owner only.
fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    write_with_mode(path, bytes, 0o600)
}

fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let error = |source| TlsError::Write {
        path: path.to_owned(),
        source,
    };
    let temporary = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&temporary).map_err(error)?;
        std::io::Write::write_all(&mut file, bytes).map_err(error)?;
        file.sync_all().map_err(error)?;
    }
    std::fs::rename(&temporary, path).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_generated_once_and_a_new_name_reissues_only_the_server_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = generated(dir.path(), &[]).expect("first start");
        let ca_file = first.ca_file.clone().expect("a generated CA");
        let ca = std::fs::read(&ca_file).expect("ca");

        let again = generated(dir.path(), &[]).expect("second start");
        assert_eq!(
            again.cert_pem, first.cert_pem,
            "reused while the names suffice"
        );

        let named = generated(dir.path(), &["journey.example".into()]).expect("new name");
        assert_ne!(named.cert_pem, first.cert_pem, "re-issued for the new name");
        assert_eq!(std::fs::read(&ca_file).expect("ca"), ca, "the CA stays");

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TLS_DIR).join(CA_KEY))
                .expect("key")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the CA key is private");
        }
    }

    #[test]
    fn a_name_with_spaces_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let refused = generated(dir.path(), &["two words".into()]);
        assert!(matches!(refused, Err(TlsError::BadName(name)) if name == "two words"));
        assert!(!dir.path().join(TLS_DIR).exists());
    }

    #[test]
    fn a_given_file_that_is_not_pem_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, b"not a certificate").expect("write");
        let refused = load_given(&cert, &cert);
        assert!(matches!(refused, Err(TlsError::NotPem { path, .. }) if path == cert));
    }
}
