//! The service-account tokens of the pod's projected `serviceAccountToken` files, as the
//! kubelet's token manager keeps them: issued when the volume is first written, bound to the
//! pod, and issued again once one is due for refresh ([`tandem_tokens::due_for_refresh`]); in
//! between, the same token, so the volume's resync finds nothing changed.
//!
//! Where the kubelet asks the API server (a TokenRequest), the supervisor signs with the store's
//! key itself: the API server would sign with that same key, and `tandem serve` checks the token
//! as it checks one it issued. The account's uid is read from the store when a token is issued,
//! as the API server reads it then: a token of an account deleted since cannot be had.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use tandem_api::plan::{PodPlan, TokenRequest};
use tandem_tokens::{Claims, TokenKeys, ISSUER};

use crate::statedir::PodDir;

/// Why a token could not be issued, in words for the pod's `FailedMount` event.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the pod has no service-account token key (it was loaded by a tool that runs no pod)")]
    NoKey,
    #[error(transparent)]
    Key(#[from] tandem_tokens::KeyError),
    #[error("failed to fetch token: serviceaccounts {name:?} not found")]
    NoAccount { name: String },
}

/// One token kept: what it is, when it was issued and until when it is good.
struct Issued {
    token: String,
    issued_at: i64,
    expires_at: i64,
}

/// The pod's tokens, one per audience and lifetime asked for.
pub struct Tokens {
    namespace: String,
    account: String,
    pod: (String, String),
    key: Option<PathBuf>,
    /// The store's file of the pod's ServiceAccount.
    account_file: PathBuf,
    keys: RefCell<Option<TokenKeys>>,
    issued: RefCell<HashMap<(Option<String>, i64), Issued>>,
}

impl Tokens {
    pub fn of(plan: &PodPlan, dir: &PodDir) -> Tokens {
        Tokens {
            namespace: plan.namespace.clone(),
            account: plan.service_account_name.clone(),
            pod: (plan.name.clone(), plan.uid.clone()),
            key: plan.token_key.as_ref().map(PathBuf::from),
            account_file: dir.kept_account(&plan.namespace, &plan.service_account_name),
            keys: RefCell::new(None),
            issued: RefCell::default(),
        }
    }

    /// The token for `request` at `now` (seconds since the epoch): the one kept, unless it is
    /// due for refresh.
    pub fn token(&self, request: &TokenRequest, now: i64) -> Result<String, TokenError> {
        let id = (request.audience.clone(), request.expiration_seconds);
        if let Some(kept) = self.issued.borrow().get(&id) {
            if !tandem_tokens::due_for_refresh(kept.issued_at, kept.expires_at, now) {
                return Ok(kept.token.clone());
            }
        }
        let account_uid = std::fs::read(&self.account_file)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|o| o["metadata"]["uid"].as_str().map(str::to_string))
            .ok_or_else(|| TokenError::NoAccount {
                name: self.account.clone(),
            })?;
        let claims = Claims {
            namespace: self.namespace.clone(),
            service_account: self.account.clone(),
            service_account_uid: account_uid,
            pod: Some(self.pod.clone()),
            audiences: vec![request.audience.clone().unwrap_or_else(|| ISSUER.into())],
            issued_at: now,
            expires_at: now + request.expiration_seconds,
        };
        let token = {
            let mut keys = self.keys.borrow_mut();
            if keys.is_none() {
                let path = self.key.as_ref().ok_or(TokenError::NoKey)?;
                *keys = Some(TokenKeys::load_or_create(path)?);
            }
            keys.as_ref().map(|k| k.issue(&claims)).unwrap_or_default()
        };
        self.issued.borrow_mut().insert(
            id,
            Issued {
                token: token.clone(),
                issued_at: claims.issued_at,
                expires_at: claims.expires_at,
            },
        );
        Ok(token)
    }
}

/// The user every container runs as, when they all run as one given in the pod (the kubelet's
/// `fsUserFrom`): a token file is that user's alone then.
pub fn shared_user(plan: &PodPlan) -> Option<u32> {
    let mut users = plan
        .init_containers
        .iter()
        .chain(&plan.containers)
        .chain(&plan.ephemeral_containers)
        .map(|c| c.security.run_as_user);
    let first = users.next()??;
    users.all(|u| u == Some(first)).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_api::plan::{ContainerPlan, ContainerRole};

    fn plan(users: &[Option<u32>]) -> PodPlan {
        let containers = users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let mut c = ContainerPlan::new(&format!("c{i}"), ContainerRole::Main, "x");
                c.security.run_as_user = *u;
                c
            })
            .collect();
        PodPlan::new("web", vec![], containers)
    }

    /// A token is kept until it is due, then issued anew; it names the pod and the account's
    /// uid as the store holds it when issued, and a deleted account gets none.
    #[test]
    fn a_token_is_kept_until_due_and_names_the_pod_and_its_account() {
        let store = tempfile::tempdir().expect("tempdir");
        let dir = PodDir::open(store.path().join("pods").join("default_web"));
        let mut plan = plan(&[None]);
        let key = store.path().join("serve").join("sa.key");
        std::fs::create_dir_all(key.parent().expect("parent")).expect("dir");
        plan.token_key = Some(key.display().to_string());
        let account = dir.kept_account("default", "default");
        std::fs::create_dir_all(account.parent().expect("parent")).expect("dir");
        std::fs::write(&account, r#"{"metadata": {"uid": "sa-uid-1"}}"#).expect("account");
        let tokens = Tokens::of(&plan, &dir);
        let hour = TokenRequest {
            audience: None,
            expiration_seconds: 3600,
        };
        let first = tokens.token(&hour, 1000).expect("token");
        assert_eq!(tokens.token(&hour, 1000 + 2879).expect("token"), first);
        let claims = TokenKeys::load_or_create(&key)
            .expect("key")
            .verify(&first, 2000)
            .expect("good");
        assert_eq!(claims.service_account_uid, "sa-uid-1");
        assert_eq!(claims.pod, Some(("web".into(), "uid-web".into())));
        assert_eq!(claims.audiences, [ISSUER]);
        assert_eq!((claims.issued_at, claims.expires_at), (1000, 4600));
        // Another audience is another token.
        let vault = TokenRequest {
            audience: Some("vault".into()),
            expiration_seconds: 3600,
        };
        assert_ne!(tokens.token(&vault, 1001).expect("token"), first);
        // Due (80% of an hour): a new one.
        let second = tokens.token(&hour, 1000 + 2880).expect("token");
        assert_ne!(second, first);
        std::fs::remove_file(&account).expect("remove");
        let e = tokens.token(&hour, 1000 + 10_000).expect_err("no account");
        assert_eq!(
            e.to_string(),
            "failed to fetch token: serviceaccounts \"default\" not found"
        );
    }

    /// The user a token file belongs to: the one every container runs as, if there is one.
    #[test]
    fn a_token_belongs_to_the_user_every_container_runs_as() {
        assert_eq!(shared_user(&plan(&[Some(1000), Some(1000)])), Some(1000));
        assert_eq!(shared_user(&plan(&[Some(1000), Some(1001)])), None);
        assert_eq!(shared_user(&plan(&[Some(1000), None])), None);
        assert_eq!(shared_user(&plan(&[None])), None);
    }
}
