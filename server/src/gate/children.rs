//! Manifests named by a signed index (OCI image index or docker manifest list): a client
//! pulling a signed multi-platform tag reads the index by tag, then its platform's manifest by
//! digest. The gate remembers each verified index's children per repository, bounded, and
//! allows a child only while its index is still signed.

use crate::clock_map::ClockMap;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// Repositories remembered, and children per repository.
const REPOSITORIES_CAP: usize = 4096;
const CHILDREN_CAP: usize = 4096;

/// The sha256 digests an index lists, or `None` when `body` is not an index. `content_type`
/// is the registry's `Content-Type`; an OCI index may leave `mediaType` out of its body.
pub fn index_children(content_type: Option<&str>, body: &[u8]) -> Option<Vec<[u8; 32]>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let media = v["mediaType"].as_str().or(content_type)?;
    let media = media.split(';').next().unwrap_or("").trim();
    if media != DOCKER_LIST && media != OCI_INDEX {
        return None;
    }
    let list = v["manifests"].as_array()?;
    Some(
        list.iter()
            .filter_map(|m| m["digest"].as_str()?.strip_prefix("sha256:"))
            .filter_map(|h| {
                let mut d = [0u8; 32];
                hex::decode_to_slice(h, &mut d).ok().map(|()| d)
            })
            .collect(),
    )
}

/// What one gate instance learnt of a repository's signed manifests.
#[derive(Default)]
struct Children {
    /// Child digest → the signed index digest that names it.
    parents: HashMap<[u8; 32], [u8; 32]>,
    /// Signed digests already read (index or not), so none is fetched twice.
    examined: HashSet<[u8; 32]>,
}

/// GUN → its [`Children`].
#[derive(Default)]
pub struct IndexChildren {
    map: Mutex<ClockMap<String, Children>>,
}

impl IndexChildren {
    fn lock(&self) -> std::sync::MutexGuard<'_, ClockMap<String, Children>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with<T>(&self, gun: &str, f: impl FnOnce(&mut Children) -> T) -> T {
        let mut m = self.lock();
        if m.get(gun).is_none() {
            drop(m.insert_capped(gun.to_string(), Children::default(), REPOSITORIES_CAP));
        }
        match m.get_mut(gun) {
            Some(c) => f(c),
            None => f(&mut Children::default()),
        }
    }

    /// Records a signed manifest the gate read: an index's `children`, or none.
    pub fn record(&self, gun: &str, index: [u8; 32], children: &[[u8; 32]]) {
        self.with(gun, |c| {
            if c.parents.len() + children.len() > CHILDREN_CAP {
                c.parents.clear();
            }
            if c.examined.len() >= CHILDREN_CAP {
                c.examined.clear();
            }
            c.examined.insert(index);
            for child in children.iter().take(CHILDREN_CAP) {
                c.parents.insert(*child, index);
            }
        })
    }

    /// The index that named `child` in `gun`, if one was seen.
    pub fn parent(&self, gun: &str, child: &[u8; 32]) -> Option<[u8; 32]> {
        self.lock()
            .get(gun)
            .and_then(|c| c.parents.get(child).copied())
    }

    /// Whether the signed manifest `digest` of `gun` was already read.
    pub fn examined(&self, gun: &str, digest: &[u8; 32]) -> bool {
        self.lock()
            .get(gun)
            .is_some_and(|c| c.examined.contains(digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_of_an_index() {
        let d = |b: u8| format!("sha256:{}", hex::encode([b; 32]));
        let body = serde_json::json!({"schemaVersion": 2, "manifests": [{"digest": d(1)}, {"digest": d(2)}]});
        let body = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            index_children(Some(OCI_INDEX), &body),
            Some(vec![[1; 32], [2; 32]])
        );
        assert_eq!(
            index_children(Some("application/vnd.oci.image.manifest.v1+json"), &body),
            None
        );
        assert_eq!(index_children(None, b"not json"), None);
        let c = IndexChildren::default();
        c.record("h/app", [9; 32], &[[1; 32]]);
        assert_eq!(c.parent("h/app", &[1; 32]), Some([9; 32]));
        assert_eq!(c.parent("h/other", &[1; 32]), None);
    }
}
