//! Which private keys in the trust directory can sign a role of the repository being
//! edited (each decrypted once per edit), and the roles a tag can be signed into.

use super::*;

impl Editor<'_> {
    /// Private keys in the store whose canonical ID is one of `listed` (metadata key IDs),
    /// paired with the listed ID they sign as.
    /// Each key is decrypted once per edit (a key signing several roles is asked for once).
    pub(super) fn signing_keys(
        &self,
        listed: &BTreeMap<String, PublicKey>,
    ) -> Result<Vec<(KeyId, Rc<PrivateKey>)>, CliError> {
        let held: BTreeSet<KeyId> = self.ctx.store.list()?.into_iter().map(|k| k.id).collect();
        let mut out = Vec::new();
        for (listed_id, key) in listed {
            let Ok(canonical) = key.canonical_id() else {
                continue;
            };
            if held.contains(&canonical) {
                let cached = self.loaded.borrow().get(&canonical).cloned();
                let private = match cached {
                    Some(k) => k,
                    None => {
                        let mut pass = self.ctx.passphrases()?;
                        let (_, k) = self.ctx.store.load(&canonical, pass.as_mut())?;
                        let k = Rc::new(k);
                        self.loaded.borrow_mut().insert(canonical, k.clone());
                        k
                    }
                };
                let id: KeyId = listed_id
                    .parse()
                    .map_err(|_| CliError::Keys(format!("bad key ID {listed_id}")))?;
                out.push((id, private));
            }
        }
        Ok(out)
    }

    /// When one of `keys` is in the store only as a damaged file: the error naming that file
    /// (instead of saying there is no key).
    pub(super) fn damaged_key<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k PublicKey>,
    ) -> Result<Option<CliError>, CliError> {
        let damaged = self.ctx.store.damaged()?;
        for k in keys {
            let Ok(id) = k.canonical_id() else { continue };
            if let Some(d) = damaged.iter().find(|d| d.id == id) {
                return Ok(Some(CliError::file(
                    &d.path,
                    format!("cannot read this key file: {}", d.reason),
                )));
            }
        }
        Ok(None)
    }

    /// Whether the key store holds a key the root lists for `role` (nothing is decrypted).
    pub fn holds_key_for(&self, role: &str) -> Result<bool, CliError> {
        let listed = self.root.role_keys(role).map_err(|e| fail(&self.gun, e))?;
        let held = self.held_canonical_ids()?;
        Ok(listed
            .keys
            .values()
            .any(|k| k.canonical_id().is_ok_and(|id| held.contains(&id))))
    }

    /// The key IDs the root lists for `role`.
    pub fn listed_key_ids(&self, role: &str) -> Vec<String> {
        self.root
            .role_keys(role)
            .map(|k| k.keys.into_keys().collect())
            .unwrap_or_default()
    }

    /// The version the root has now (the next one once this edit changed it).
    pub fn root_version(&self) -> i64 {
        self.root.version
    }

    pub(super) fn held_canonical_ids(&self) -> Result<BTreeSet<KeyId>, CliError> {
        Ok(self.ctx.store.list()?.into_iter().map(|k| k.id).collect())
    }

    /// The roles docker signs a tag into: direct delegations of `targets` whose keys we hold
    /// and whose paths cover the tag; `targets` itself when there are no delegations.
    pub fn signable_roles(&self, tag: Option<&str>) -> Result<Vec<String>, CliError> {
        let targets = self
            .targets()
            .ok_or_else(|| fail(&self.gun, "no targets role"))?;
        let delegations = targets.delegated_roles();
        if delegations.is_empty() {
            return Ok(vec!["targets".into()]);
        }
        let held = self.held_canonical_ids()?;
        let mut out = Vec::new();
        let mut candidates = Vec::new();
        for d in delegations {
            if tag.is_some_and(|t| !d.covers(t)) {
                continue;
            }
            let keys = targets
                .delegation_keys(&d.name)
                .map_err(|e| fail(&self.gun, e))?;
            if keys
                .keys
                .values()
                .any(|k| k.canonical_id().is_ok_and(|id| held.contains(&id)))
            {
                out.push(d.name.clone());
            }
            candidates.extend(keys.keys.into_values());
        }
        if out.is_empty() {
            if let Some(e) = self.damaged_key(&candidates)? {
                return Err(e);
            }
            return Err(fail(&self.gun, "no valid signing keys for delegation roles (generate or load a signer key added with `signet signer add`)"));
        }
        Ok(out)
    }

    /// The keys in the store that sign `role`, found as [`Editor::publish`] finds them (the
    /// cosign bridge signs with the same keys).
    pub fn held_keys(&self, role: &str) -> Result<Vec<Rc<PrivateKey>>, CliError> {
        let keys = if role == "targets" {
            self.root
                .role_keys("targets")
                .map_err(|e| fail(&self.gun, e))?
        } else {
            let parent = signet_tuf::role_name::parent(role).unwrap_or("targets");
            self.files
                .get(parent)
                .ok_or_else(|| fail(&self.gun, format!("{role}: parent not loaded")))?
                .delegation_keys(role)
                .map_err(|e| fail(&self.gun, e))?
        };
        Ok(self
            .signing_keys(&keys.keys)?
            .into_iter()
            .map(|(_, k)| k)
            .collect())
    }
}
