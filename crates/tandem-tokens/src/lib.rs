//! Service-account tokens as the API server issues and checks them (`TokenRequest`,
//! `pkg/serviceaccount`): JSON Web Tokens signed with ES256 by the store's key (`sa.key`,
//! PKCS#8, readable by root only), carrying the claims of a bound token — issuer and audience
//! `https://kubernetes.default.svc.cluster.local`, subject `system:serviceaccount:NS:NAME`,
//! expiry, and under `kubernetes.io` the namespace, the service account's name and uid and the
//! pod the token is bound to. A token is good while it has not expired and the service account
//! (and pod) it names still exist with those uids; the caller checks the latter.
//!
//! Two sides use it: `tandem serve` (tokens asked for with `kubectl create token`, and every
//! bearer token checked) and each pod's supervisor (the projected `serviceAccountToken` files
//! it writes and refreshes, as the kubelet's token manager does). Owns the token format, its
//! signature, the key's file and when a token is due for refresh. Never reads the store's
//! objects: who the token is for is the caller's to say.

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair as _, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde_json::{json, Value};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// The issuer and default audience of every token, as a cluster's API server names itself.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// How a service account is named as a user (`system:serviceaccount:NS:NAME`).
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// The oldest a token the kubelet keeps in a volume gets before it asks for a new one, whatever
/// its lifetime (the token manager's `maxTTL`).
pub const MAX_AGE_SECONDS: i64 = 24 * 60 * 60;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub namespace: String,
    pub service_account: String,
    pub service_account_uid: String,
    /// The pod the token is bound to (name, uid): it is good only while that pod exists.
    pub pod: Option<(String, String)>,
    pub audiences: Vec<String>,
    /// Seconds since the epoch.
    pub issued_at: i64,
    pub expires_at: i64,
}

/// Why a bearer token is not a good service-account token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token's signature is not valid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not for this API server")]
    Audience,
}

/// Why the signing key cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an ECDSA P-256 key in PKCS#8")]
    NotAKey { path: PathBuf },
}

/// The key tokens are signed with.
pub struct TokenKeys {
    pair: EcdsaKeyPair,
    /// The key's id in each token's header: the first bytes of its public key's SHA-256.
    kid: String,
}

impl TokenKeys {
    /// The key of a PKCS#8 document (an ECDSA P-256 key, as `pki` makes `sa.key`).
    pub fn from_pkcs8(der: &[u8]) -> Option<TokenKeys> {
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
                .ok()?;
        let digest = ring::digest::digest(&ring::digest::SHA256, pair.public_key().as_ref());
        let kid = b64(&digest.as_ref()[..16]);
        Some(TokenKeys { pair, kid })
    }

    /// The key kept at `path`, made (and written, mode 0600) the first time. Two processes
    /// making it at once both write a whole key by rename and both read back the one that won.
    pub fn load_or_create(path: &Path) -> Result<TokenKeys, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        if !path.exists() {
            let der = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| KeyError::NotAKey {
                path: path.to_path_buf(),
            })?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .and_then(|mut f| {
                    f.write_all(der.as_ref())?;
                    f.sync_all()
                })
                .and_then(|()| {
                    // The first key written wins: a link fails where one is there already.
                    match std::fs::hard_link(&tmp, path) {
                        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
                        _ => Ok(()),
                    }
                });
            let _ = std::fs::remove_file(&tmp);
            written.map_err(io)?;
        }
        let der = std::fs::read(path).map_err(io)?;
        TokenKeys::from_pkcs8(&der).ok_or_else(|| KeyError::NotAKey {
            path: path.to_path_buf(),
        })
    }

    /// A signed token of `claims`.
    pub fn issue(&self, claims: &Claims) -> String {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let mut payload = json!({
            "aud": claims.audiences,
            "exp": claims.expires_at,
            "iat": claims.issued_at,
            "nbf": claims.issued_at,
            "iss": ISSUER,
            "sub": format!("{}{}:{}", SERVICE_ACCOUNT_PREFIX, claims.namespace, claims.service_account),
            "kubernetes.io": {
                "namespace": claims.namespace,
                "serviceaccount": {"name": claims.service_account, "uid": claims.service_account_uid},
            },
        });
        if let Some((name, uid)) = &claims.pod {
            payload["kubernetes.io"]["pod"] = json!({"name": name, "uid": uid});
        }
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes())
        );
        // The signing only fails without randomness, which the kernel always has.
        let signature = self
            .pair
            .sign(&SystemRandom::new(), signed.as_bytes())
            .map(|s| b64(s.as_ref()))
            .unwrap_or_default();
        format!("{signed}.{signature}")
    }

    /// The claims of a token this key signed, for this server, unexpired at `now` (seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        self.verify_for(token, now, &[ISSUER.to_string()])
    }

    /// [`TokenKeys::verify`] for any of `audiences` (a TokenReview's) rather than this
    /// server's own.
    pub fn verify_for(
        &self,
        token: &str,
        now: i64,
        wanted: &[String],
    ) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let decode = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .map_err(|_| TokenError::Malformed)
        };
        let public =
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.pair.public_key().as_ref());
        public
            .verify(
                format!("{header}.{payload}").as_bytes(),
                &decode(signature)?,
            )
            .map_err(|_| TokenError::Signature)?;
        let claims: Value =
            serde_json::from_slice(&decode(payload)?).map_err(|_| TokenError::Malformed)?;
        let int = |f: &str| claims[f].as_i64().ok_or(TokenError::Malformed);
        if int("exp")? <= now {
            return Err(TokenError::Expired);
        }
        let audiences = audiences(&claims["aud"]);
        if claims["iss"] != ISSUER || !audiences.iter().any(|a| wanted.contains(a)) {
            return Err(TokenError::Audience);
        }
        let k8s = &claims["kubernetes.io"];
        let text = |v: &Value| v.as_str().map(str::to_string).ok_or(TokenError::Malformed);
        Ok(Claims {
            namespace: text(&k8s["namespace"])?,
            service_account: text(&k8s["serviceaccount"]["name"])?,
            service_account_uid: text(&k8s["serviceaccount"]["uid"])?,
            pod: match &k8s["pod"] {
                Value::Null => None,
                pod => Some((text(&pod["name"])?, text(&pod["uid"])?)),
            },
            audiences,
            issued_at: int("iat")?,
            expires_at: int("exp")?,
        })
    }
}

/// The audiences a token's `aud` or a TokenRequest's `spec.audiences` lists.
pub fn audiences(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Whether a token issued at `issued_at` and good until `expires_at` is due to be replaced at
/// `now` (seconds), as the kubelet's token manager judges the tokens it keeps in volumes: past
/// 80% of its lifetime, or a day old.
pub fn due_for_refresh(issued_at: i64, expires_at: i64, now: i64) -> bool {
    let lifetime = expires_at - issued_at;
    now >= expires_at - lifetime / 5 || now >= issued_at + MAX_AGE_SECONDS
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            namespace: "default".into(),
            service_account: "app".into(),
            service_account_uid: "u-1".into(),
            pod: Some(("web".into(), "p-1".into())),
            audiences: vec![ISSUER.into()],
            issued_at: 1000,
            expires_at: 4600,
        }
    }

    /// A token reads back as issued while it lasts, under the key that signed it only; one
    /// changed in any part, expired, or for another audience is refused.
    #[test]
    fn tokens_are_good_only_as_signed_and_until_they_expire() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sa.key");
        let keys = TokenKeys::load_or_create(&path).expect("keys");
        let der = std::fs::read(&path).expect("key file");
        let mode = std::fs::metadata(&path).expect("key file").permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let token = keys.issue(&claims());
        assert_eq!(keys.verify(&token, 2000), Ok(claims()));
        // The same key read again checks it, from its bytes or its file.
        let again = TokenKeys::from_pkcs8(&der).expect("keys");
        assert_eq!(again.verify(&token, 2000), Ok(claims()));
        let reread = TokenKeys::load_or_create(&path).expect("keys");
        assert_eq!(reread.verify(&token, 2000), Ok(claims()));
        assert_eq!(keys.verify(&token, 4600), Err(TokenError::Expired));
        let other = TokenKeys::load_or_create(&dir.path().join("other.key")).expect("keys");
        assert_eq!(other.verify(&token, 2000), Err(TokenError::Signature));
        let parts: Vec<&str> = token.split('.').collect();
        let forged = json!({"exp": 9999999999i64, "iss": ISSUER, "aud": [ISSUER]});
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(forged.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(keys.verify(&tampered, 2000), Err(TokenError::Signature));
        assert_eq!(keys.verify("a.b", 2000), Err(TokenError::Malformed));
        let mut elsewhere = claims();
        elsewhere.audiences = vec!["vault".into()];
        assert_eq!(
            keys.verify(&keys.issue(&elsewhere), 2000),
            Err(TokenError::Audience)
        );
        // A TokenReview asking for that audience gets it.
        let vault = keys.verify_for(&keys.issue(&elsewhere), 2000, &["vault".into()]);
        assert_eq!(vault.map(|c| c.audiences), Ok(vec!["vault".to_string()]));
    }

    /// A token is replaced past 80% of its life or at a day old, whichever comes first.
    #[test]
    fn a_token_is_due_for_refresh_past_four_fifths_of_its_life_or_a_day() {
        // One hour (the projected default, 3607 s as the admission plugin asks).
        assert!(!due_for_refresh(0, 3607, 2885));
        assert!(due_for_refresh(0, 3607, 2886));
        // A year's token is replaced daily.
        let year = 365 * 24 * 3600;
        assert!(!due_for_refresh(0, year, MAX_AGE_SECONDS - 1));
        assert!(due_for_refresh(0, year, MAX_AGE_SECONDS));
        // Ten minutes, the shortest the API server issues: at eight.
        assert!(!due_for_refresh(100, 700, 579));
        assert!(due_for_refresh(100, 700, 580));
    }

    /// A file that is not a key is said to be one, by path.
    #[test]
    fn a_key_file_that_is_not_a_key_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sa.key");
        std::fs::write(&path, b"not a key").expect("write");
        let e = TokenKeys::load_or_create(&path).err().expect("refused");
        assert!(
            e.to_string().contains("sa.key is not an ECDSA P-256 key"),
            "{e}"
        );
    }
}
