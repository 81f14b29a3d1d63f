//! The server's certificates and the credentials it admits, kept in one directory readable by
//! root only: a CA made on first start, a client certificate signed by it (the kubeconfig's
//! user, in `system:masters` as a cluster's admin is), a bearer token, the key service-account
//! tokens are signed with ([`tandem_tokens`]), and a server certificate made again at each
//! start for the addresses served that time. The CA and the key may be made before `serve`
//! ever runs, by the first pod that mounts a token: its `ca.crt` is the CA, its token signed
//! by the key.
//!
//! The CA's certificate is written once; to sign later certificates only its key is read back,
//! and its name and key-identifier method are the same constants each time, so what is signed
//! chains to the certificate clients already hold.

use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The kubeconfig's names: cluster, user and context.
pub const CONTEXT: &str = "tandem";
pub const USER: &str = "tandem-admin";

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make the server's certificates")]
    Cert(#[from] rcgen::Error),
    #[error("{path} is not a PEM certificate or key")]
    Pem { path: PathBuf },
    #[error(transparent)]
    TokenKey(#[from] tandem_tokens::KeyError),
}

/// What the server needs to serve TLS and admit clients.
pub struct Credentials {
    pub ca: CertificateDer<'static>,
    pub ca_pem: String,
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: PrivateKeyDer<'static>,
    pub client_cert_pem: String,
    pub client_key_pem: String,
    /// The bearer token that also admits a client (`token` in the directory).
    pub token: String,
    /// The key service-account tokens are signed with (`sa.key`).
    pub token_keys: std::sync::Arc<tandem_tokens::TokenKeys>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the key service-account tokens are signed with is kept in the directory (PKCS#8 DER,
/// made the first time by whichever needs it first: `serve`, or a pod's token volume).
pub fn token_key_path(dir: &Path) -> PathBuf {
    dir.join("sa.key")
}

/// Writes a file only its owner can read, whole or not at all.
fn write_private(path: &Path, data: &[u8]) -> Result<(), PkiError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, "tandem-ca");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    valid_for_ten_years(&mut p);
    Ok(p)
}

fn valid_for_ten_years(p: &mut CertificateParams) {
    let now = time::OffsetDateTime::now_utc();
    // An hour back: a client whose clock is a little behind still accepts it.
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(3650);
}

fn random_token() -> Result<String, PkiError> {
    let path = Path::new("/dev/urandom");
    let mut bytes = [0u8; 24];
    std::io::Read::read_exact(
        &mut std::fs::File::open(path).map_err(io(path))?,
        &mut bytes,
    )
    .map_err(io(path))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The store's CA — its key and its certificate's PEM — made the first time (with the
/// directory, readable by root only). Pods trust it as their cluster's root (`ca.crt` of the
/// `kube-root-ca.crt` ConfigMap), so it may be made before `serve` ever runs.
fn authority(dir: &Path) -> Result<(KeyPair, String), PkiError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    let ca_key_path = dir.join("ca.key");
    let ca_cert_path = dir.join("ca.crt");
    // One maker at a time: two first `run`s at once would otherwise each write a key and a
    // certificate, and keep one's key beside the other's certificate.
    let lock_path = dir.join("ca.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    lock.lock().map_err(io(&lock_path))?;
    match (
        std::fs::read_to_string(&ca_key_path),
        std::fs::read_to_string(&ca_cert_path),
    ) {
        (Ok(key), Ok(cert)) => Ok((
            KeyPair::from_pem(&key).map_err(|_| PkiError::Pem { path: ca_key_path })?,
            cert,
        )),
        _ => {
            let key = KeyPair::generate()?;
            let cert = ca_params()?.self_signed(&key)?;
            write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
            write_private(&ca_cert_path, cert.pem().as_bytes())?;
            // A new CA makes every certificate it signed before useless.
            let _ = std::fs::remove_file(dir.join("client.crt"));
            Ok((key, cert.pem()))
        }
    }
}

/// The store's CA certificate (PEM), made with its key the first time. Once made, only the
/// certificate is read (every pod's start asks): no lock, no key.
pub fn root_ca(dir: &Path) -> Result<String, PkiError> {
    match std::fs::read_to_string(dir.join("ca.crt")) {
        Ok(pem) if dir.join("ca.key").exists() => Ok(pem),
        _ => authority(dir).map(|(_, pem)| pem),
    }
}

impl Credentials {
    /// Loads the CA, client certificate and token from `dir`, making those missing, and makes
    /// a server certificate for `names` (addresses and host names clients dial).
    pub fn load_or_create(dir: &Path, names: &[String]) -> Result<Credentials, PkiError> {
        let (ca_key, ca_pem) = authority(dir)?;
        let ca_cert_path = dir.join("ca.crt");
        let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes())
            .map_err(|_| PkiError::Pem {
                path: ca_cert_path.clone(),
            })?
            .into_owned();
        let issuer = Issuer::new(ca_params()?, ca_key);

        let client_cert_path = dir.join("client.crt");
        let client_key_path = dir.join("client.key");
        let (client_cert_pem, client_key_pem) = match (
            std::fs::read_to_string(&client_cert_path),
            std::fs::read_to_string(&client_key_path),
        ) {
            (Ok(c), Ok(k)) => (c, k),
            _ => {
                let key = KeyPair::generate()?;
                let mut p = CertificateParams::new(Vec::<String>::new())?;
                p.distinguished_name = DistinguishedName::new();
                p.distinguished_name.push(DnType::CommonName, USER);
                p.distinguished_name
                    .push(DnType::OrganizationName, "system:masters");
                p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
                valid_for_ten_years(&mut p);
                let cert = p.signed_by(&key, &issuer)?;
                write_private(&client_key_path, key.serialize_pem().as_bytes())?;
                write_private(&client_cert_path, cert.pem().as_bytes())?;
                (cert.pem(), key.serialize_pem())
            }
        };

        let token_path = dir.join("token");
        let token = match std::fs::read_to_string(&token_path) {
            Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => {
                let t = random_token()?;
                write_private(&token_path, t.as_bytes())?;
                t
            }
        };

        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(names.to_vec())?;
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name
            .push(DnType::CommonName, "tandem-apiserver");
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        valid_for_ten_years(&mut p);
        let server = p.signed_by(&key, &issuer)?;
        Ok(Credentials {
            ca,
            ca_pem,
            server_chain: vec![server.der().clone()],
            server_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            client_cert_pem,
            client_key_pem,
            token,
            token_keys: std::sync::Arc::new(tandem_tokens::TokenKeys::load_or_create(
                &token_key_path(dir),
            )?),
        })
    }

    /// A kubeconfig whose one context reaches `server` (`https://127.0.0.1:6443`) with the
    /// client certificate, in namespace `default`.
    pub fn kubeconfig(&self, server: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT}\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n- name: {USER}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: {CONTEXT}\n  context:\n    cluster: {CONTEXT}\n    user: {USER}\n    namespace: default\ncurrent-context: {CONTEXT}\npreferences: {{}}\n",
            b64(&self.ca_pem),
            b64(&self.client_cert_pem),
            b64(&self.client_key_pem),
        )
    }
}

/// The names a server certificate for `address` must carry: loopback always, the host's name,
/// and the address itself (every address of the host when it is unspecified).
pub fn server_names(address: IpAddr, host_addresses: &[IpAddr], hostname: &str) -> Vec<String> {
    let mut names = vec![
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "localhost".to_string(),
    ];
    if !hostname.is_empty() {
        names.push(hostname.to_string());
    }
    let extra: Vec<IpAddr> = match address.is_unspecified() {
        true => host_addresses.to_vec(),
        false => vec![address],
    };
    for a in extra {
        let s = a.to_string();
        if !names.contains(&s) {
            names.push(s);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_start_keeps_the_ca_client_and_token_and_signs_with_the_same_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let first = Credentials::load_or_create(dir.path(), &names).expect("first");
        let second = Credentials::load_or_create(dir.path(), &names).expect("second");
        assert_eq!(first.ca_pem, second.ca_pem);
        assert_eq!(first.client_cert_pem, second.client_cert_pem);
        assert_eq!(first.token, second.token);
        assert_eq!(first.token.len(), 48);
        // Only root reads the keys.
        for f in ["ca.key", "client.key", "token"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .expect("key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f}");
        }
        // The second server certificate chains to the CA the first start made.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(first.ca.clone()).expect("CA");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .expect("verifier");
        use rustls::client::danger::ServerCertVerifier as _;
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
        verifier
            .verify_server_cert(
                &second.server_chain[0],
                &[],
                &name,
                &[],
                rustls::pki_types::UnixTime::now(),
            )
            .expect("the new server certificate chains to the old CA");
        let config = first.kubeconfig("https://127.0.0.1:6443");
        assert!(config.contains("server: https://127.0.0.1:6443\n"));
        assert!(config.contains("current-context: tandem\n"));
    }

    #[test]
    fn an_unspecified_address_names_every_host_address() {
        let host: Vec<IpAddr> = vec![
            "10.0.0.5".parse().expect("ip"),
            "127.0.0.1".parse().expect("ip"),
        ];
        let names = server_names("0.0.0.0".parse().expect("ip"), &host, "box");
        assert_eq!(names, ["127.0.0.1", "::1", "localhost", "box", "10.0.0.5"]);
        let one = server_names("10.0.0.5".parse().expect("ip"), &host, "");
        assert_eq!(one, ["127.0.0.1", "::1", "localhost", "10.0.0.5"]);
    }
}
