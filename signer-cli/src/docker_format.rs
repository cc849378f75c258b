//! `docker trust inspect`'s output, byte for byte as docker 28 prints it.
//!
//! docker collects every target of the repository in notary's walk order (breadth first from
//! `targets`, children in the order their parent lists them), keeps the tags that are
//! *released* (signed into `targets` or `targets/releases`) and names, for each, the other
//! roles that sign the same digest. The JSON is Go's `json.Marshal` of one object per
//! repository, run through `json.Indent` with four spaces; `--pretty` goes through Go's
//! `text/tabwriter` (minimum width 10, padding 3) for the two tables and prints the
//! administrative keys directly.

use crate::trusted_repo::TrustedRepo;
use std::collections::{BTreeMap, BTreeSet};

/// docker's name for the signer of `targets` and `targets/releases`.
const RELEASED_ROLE_NAME: &str = "Repo Admin";

/// One target entry of one role, in notary's walk order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleTarget {
    pub role: String,
    pub tag: String,
    /// Lower-case hex of the sha256 hash ("" when the entry has none, as docker prints it).
    pub digest: String,
}

/// What `docker trust inspect` reads from a repository.
#[derive(Clone, Debug, Default)]
pub struct TrustInfo {
    /// Every (role, tag, digest), walk order; only `tag` when one was asked for.
    pub targets: Vec<RoleTarget>,
    /// Root key IDs as root.json lists them (certificate IDs).
    pub root_keys: Vec<String>,
    /// Targets key IDs as root.json lists them.
    pub targets_keys: Vec<String>,
    /// Signer name → canonical key IDs in listed order, for every delegation but releases.
    pub signers: BTreeMap<String, Vec<String>>,
}

fn is_released(role: &str) -> bool {
    role == "targets" || role == "targets/releases"
}

/// docker's signer name for a role.
fn role_to_signer(role: &str) -> String {
    if is_released(role) {
        RELEASED_ROLE_NAME.to_string()
    } else {
        role.strip_prefix("targets/").unwrap_or(role).to_string()
    }
}

impl TrustInfo {
    /// Reads a verified repository the way docker's notary client walks it.
    pub fn from_repo(repo: &TrustedRepo, tag: Option<&str>) -> TrustInfo {
        let mut info = TrustInfo {
            root_keys: listed(repo, "root"),
            targets_keys: listed(repo, "targets"),
            ..TrustInfo::default()
        };
        // (role, its file, whether notary's walk for `tag` reaches it: a role whose paths do
        // not cover the tag is neither visited nor descended into).
        let mut queue: std::collections::VecDeque<(&str, &signet_tuf::SignedTargets, bool)> =
            std::collections::VecDeque::from([("targets", &repo.targets, true)]);
        while let Some((role, file, reached)) = queue.pop_front() {
            let covers = |t: &str| {
                role == "targets" || repo.find_delegation(role).is_some_and(|d| d.covers(t))
            };
            let visited = reached && tag.is_none_or(covers);
            if visited {
                for (name, meta) in file.signed.target_map() {
                    if tag.is_some_and(|t| t != name) {
                        continue;
                    }
                    info.targets.push(RoleTarget {
                        role: role.to_string(),
                        tag: name.clone(),
                        digest: meta.hash("sha256").map(hex::encode).unwrap_or_default(),
                    });
                }
            }
            for d in file.signed.delegated_roles() {
                if d.name != "targets/releases" {
                    // notary reports delegation keys by canonical ID (a certificate's public key).
                    let ids = match file.signed.delegation_keys(&d.name) {
                        Ok(keys) => d
                            .key_ids()
                            .iter()
                            .filter_map(|id| keys.keys.get(id))
                            .map(|k| {
                                k.canonical_id()
                                    .map(|i| i.to_string())
                                    .unwrap_or_else(|_| k.id().to_string())
                            })
                            .collect(),
                        Err(_) => d.key_ids().to_vec(),
                    };
                    info.signers.insert(role_to_signer(&d.name), ids);
                }
                if let Some(child) = repo.delegations.get(&d.name) {
                    queue.push_back((d.name.as_str(), child, visited));
                }
            }
        }
        info
    }
}

fn listed(repo: &TrustedRepo, role: &str) -> Vec<String> {
    repo.root
        .signed
        .role_entry(role)
        .map(|r| r.key_ids().to_vec())
        .unwrap_or_default()
}

/// A released tag with the other roles that sign its digest (in walk order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagRow {
    pub tag: String,
    pub digest: String,
    pub signers: Vec<String>,
}

/// docker's `matchReleasedSignatures`: rows sorted naturally by tag.
pub fn released_rows(targets: &[RoleTarget]) -> Vec<TagRow> {
    let released: BTreeSet<(&str, &str)> = targets
        .iter()
        .filter(|t| is_released(&t.role))
        .map(|t| (t.tag.as_str(), t.digest.as_str()))
        .collect();
    let mut rows: BTreeMap<(&str, &str), Vec<String>> =
        released.iter().map(|k| (*k, Vec::new())).collect();
    for t in targets {
        let key = (t.tag.as_str(), t.digest.as_str());
        if !is_released(&t.role) {
            if let Some(signers) = rows.get_mut(&key) {
                signers.push(role_to_signer(&t.role));
            }
        }
    }
    let mut out: Vec<TagRow> = rows
        .into_iter()
        .map(|((tag, digest), signers)| TagRow {
            tag: tag.to_string(),
            digest: digest.to_string(),
            signers,
        })
        .collect();
    out.sort_by(|a, b| natural_cmp(&a.tag, &b.tag).then_with(|| a.digest.cmp(&b.digest)));
    out
}

/// The ordering of `sortorder.NaturalLess`: runs of digits compare as numbers (fewer leading
/// zeros first on a tie), digits sort before other bytes, other bytes compare bytewise.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        let (dx, dy) = (x[i].is_ascii_digit(), y[j].is_ascii_digit());
        if dx != dy {
            return if dx {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !dx {
            if x[i] != y[j] {
                return x[i].cmp(&y[j]);
            }
            i += 1;
            j += 1;
            continue;
        }
        while i < x.len() && x[i] == b'0' {
            i += 1;
        }
        while j < y.len() && y[j] == b'0' {
            j += 1;
        }
        let (nz_i, nz_j) = (i, j);
        while i < x.len() && x[i].is_ascii_digit() {
            i += 1;
        }
        while j < y.len() && y[j].is_ascii_digit() {
            j += 1;
        }
        let (len_i, len_j) = (i - nz_i, j - nz_j);
        if len_i != len_j {
            return len_i.cmp(&len_j);
        }
        match x[nz_i..i].cmp(&y[nz_j..j]) {
            Ordering::Equal => {}
            o => return o,
        }
        if nz_i != nz_j {
            return nz_i.cmp(&nz_j);
        }
    }
    x.len().cmp(&y.len())
}

/// A JSON value with Go's member order and escaping.
enum GoJson {
    Str(String),
    Arr(Vec<GoJson>),
    Obj(Vec<(&'static str, GoJson)>),
}

/// A string as Go ≥ 1.22's `encoding/json` writes it (HTML characters escaped, `\b` and `\f`
/// short forms).
fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl GoJson {
    /// `json.Indent(dst, src, "", "    ")` of the compact form.
    fn write_indented(&self, depth: usize, out: &mut String) {
        let pad = |out: &mut String, d: usize| {
            out.push('\n');
            for _ in 0..d {
                out.push_str("    ");
            }
        };
        match self {
            GoJson::Str(s) => go_string(s, out),
            GoJson::Arr(items) if items.is_empty() => out.push_str("[]"),
            GoJson::Obj(members) if members.is_empty() => out.push_str("{}"),
            GoJson::Arr(items) => {
                out.push('[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    item.write_indented(depth + 1, out);
                }
                pad(out, depth);
                out.push(']');
            }
            GoJson::Obj(members) => {
                out.push('{');
                for (n, (k, v)) in members.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    go_string(k, out);
                    out.push_str(": ");
                    v.write_indented(depth + 1, out);
                }
                pad(out, depth);
                out.push('}');
            }
        }
    }
}

/// docker's `trustSigner` (`Name` and `Keys` are omitted when empty).
fn signer_json(name: &str, keys: &[String]) -> GoJson {
    let mut members = Vec::new();
    if !name.is_empty() {
        members.push(("Name", GoJson::Str(name.to_string())));
    }
    if !keys.is_empty() {
        let ids = keys
            .iter()
            .map(|id| {
                if id.is_empty() {
                    GoJson::Obj(Vec::new())
                } else {
                    GoJson::Obj(vec![("ID", GoJson::Str(id.clone()))])
                }
            })
            .collect();
        members.push(("Keys", GoJson::Arr(ids)));
    }
    GoJson::Obj(members)
}

/// One repository's object: `Name` is the reference exactly as the user gave it.
fn repo_json(name: &str, info: &TrustInfo) -> GoJson {
    let tags = released_rows(&info.targets)
        .into_iter()
        .map(|r| {
            let signers = if r.signers.is_empty() {
                vec![RELEASED_ROLE_NAME.to_string()]
            } else {
                r.signers
            };
            GoJson::Obj(vec![
                ("SignedTag", GoJson::Str(r.tag)),
                ("Digest", GoJson::Str(r.digest)),
                (
                    "Signers",
                    GoJson::Arr(signers.into_iter().map(GoJson::Str).collect()),
                ),
            ])
        })
        .collect();
    // Signers by name, descending (plain string order), as docker sorts them.
    let signers = info
        .signers
        .iter()
        .rev()
        .map(|(name, keys)| signer_json(name, keys))
        .collect();
    // "Root" > "Repository": root first.
    let admin = vec![
        signer_json("Root", &info.root_keys),
        signer_json("Repository", &info.targets_keys),
    ];
    GoJson::Obj(vec![
        ("Name", GoJson::Str(name.to_string())),
        ("SignedTags", GoJson::Arr(tags)),
        ("Signers", GoJson::Arr(signers)),
        ("AdministrativeKeys", GoJson::Arr(admin)),
    ])
}

/// The whole `docker trust inspect` standard output for the repositories that could be read:
/// `[]` when none, else the indented array; always one trailing newline.
pub fn inspect_json(repos: &[(String, TrustInfo)]) -> String {
    if repos.is_empty() {
        return "[]\n".to_string();
    }
    let arr = GoJson::Arr(
        repos
            .iter()
            .map(|(name, info)| repo_json(name, info))
            .collect(),
    );
    let mut out = String::new();
    arr.write_indented(0, &mut out);
    out.push('\n');
    out
}

/// Go's `text/tabwriter` as docker's table formatter configures it (minimum width 10, padding
/// 3, spaces): every tab-terminated cell is padded to its column's widest cell + 3; the last
/// cell of a line is written as is.
fn tabwrite(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (n, cell) in row.iter().take(row.len().saturating_sub(1)).enumerate() {
            let w = (cell.chars().count() + 3).max(10);
            if widths.len() <= n {
                widths.push(w);
            } else if widths[n] < w {
                widths[n] = w;
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        for (n, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if n + 1 < row.len() {
                for _ in cell.chars().count()..widths[n] {
                    out.push(' ');
                }
            }
        }
        out.push('\n');
    }
    out
}

/// docker's `formatter.TruncateID`: the part after a `:`, at most 12 characters.
fn truncate_id(id: &str) -> &str {
    let id = id.split_once(':').map(|(_, r)| r).unwrap_or(id);
    match id.char_indices().nth(12) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

/// `docker trust inspect --pretty` for one repository.
pub fn inspect_pretty(name: &str, info: &TrustInfo) -> String {
    let mut out = String::new();
    let rows = released_rows(&info.targets);
    if rows.is_empty() {
        out.push_str(&format!("\nNo signatures for {name}\n\n"));
    } else {
        out.push_str(&format!("\nSignatures for {name}\n\n"));
        let mut table = vec![vec![
            "SIGNED TAG".to_string(),
            "DIGEST".to_string(),
            "SIGNERS".to_string(),
        ]];
        for r in rows {
            let mut signers = if r.signers.is_empty() {
                vec![format!("({RELEASED_ROLE_NAME})")]
            } else {
                r.signers
            };
            signers.sort();
            table.push(vec![r.tag, r.digest, signers.join(", ")]);
        }
        out.push_str(&tabwrite(&table));
    }
    if !info.signers.is_empty() {
        out.push_str(&format!("\nList of signers and their keys for {name}\n\n"));
        let mut signers: Vec<(&String, &Vec<String>)> = info.signers.iter().collect();
        signers.sort_by(|a, b| natural_cmp(a.0, b.0));
        let mut table = vec![vec!["SIGNER".to_string(), "KEYS".to_string()]];
        for (signer, keys) in signers {
            let mut keys = keys.clone();
            keys.sort();
            let short: Vec<&str> = keys.iter().map(|k| truncate_id(k)).collect();
            table.push(vec![signer.clone(), short.join(", ")]);
        }
        out.push_str(&tabwrite(&table));
    }
    out.push_str(&format!("\nAdministrative keys for {name}\n\n"));
    // By TUF role name, descending: targets ("Repository Key") before root.
    for (label, keys) in [
        ("Repository Key", &info.targets_keys),
        ("Root Key", &info.root_keys),
    ] {
        let mut keys = keys.clone();
        keys.sort();
        out.push_str(&format!("  {label}:\t{}\n", keys.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(role: &str, tag: &str, digest: &str) -> RoleTarget {
        RoleTarget {
            role: role.into(),
            tag: tag.into(),
            digest: hex::encode(digest),
        }
    }

    /// docker/cli's "full repo with signers" test repository.
    fn full_repo() -> TrustInfo {
        TrustInfo {
            targets: vec![
                t("targets", "green", "green-digest"),
                t("targets/releases", "red", "red-digest"),
                t("targets/releases", "blue", "blue-digest"),
                t("targets/alice", "red", "red-digest"),
                t("targets/alice", "blue", "blue-digest"),
                t("targets/bob", "red", "red-digest"),
            ],
            root_keys: vec!["rootID".into()],
            targets_keys: vec!["targetsID".into()],
            signers: BTreeMap::from([
                ("alice".to_string(), vec!["A".to_string()]),
                ("bob".to_string(), vec!["B".to_string()]),
            ]),
        }
    }

    #[test]
    fn pretty_matches_dockers_golden_file() {
        let golden = "\nSignatures for signed-repo\n\n\
SIGNED TAG   DIGEST                     SIGNERS\n\
blue         626c75652d646967657374     alice\n\
green        677265656e2d646967657374   (Repo Admin)\n\
red          7265642d646967657374       alice, bob\n\
\nList of signers and their keys for signed-repo\n\n\
SIGNER    KEYS\n\
alice     A\n\
bob       B\n\
\nAdministrative keys for signed-repo\n\n\
\x20 Repository Key:\ttargetsID\n\
\x20 Root Key:\trootID\n";
        assert_eq!(inspect_pretty("signed-repo", &full_repo()), golden);
    }

    #[test]
    fn json_matches_dockers_shape() {
        let out = inspect_json(&[("signed-repo".into(), full_repo())]);
        assert!(out.starts_with("[\n    {\n        \"Name\": \"signed-repo\",\n        \"SignedTags\": [\n            {\n                \"SignedTag\": \"blue\",\n                \"Digest\": \"626c75652d646967657374\",\n                \"Signers\": [\n                    \"alice\"\n                ]\n            },"), "{out}");
        assert!(out.contains("\"Signers\": [\n                    \"alice\",\n                    \"bob\"\n                ]"));
        // Signers descending by name, then Root before Repository.
        let bob = out.find("\"Name\": \"bob\"").unwrap();
        let alice = out.find("\"Name\": \"alice\"").unwrap();
        let root = out.find("\"Name\": \"Root\"").unwrap();
        assert!(bob < alice && alice < root);
        assert!(out.ends_with("    }\n]\n"));
        assert_eq!(inspect_json(&[]), "[]\n");
        let empty = TrustInfo {
            root_keys: vec!["r".into()],
            targets_keys: vec!["t".into()],
            ..TrustInfo::default()
        };
        let out = inspect_json(&[("reg/img:unsigned-tag".into(), empty)]);
        assert!(
            out.contains("\"SignedTags\": [],\n        \"Signers\": [],"),
            "{out}"
        );
    }

    #[test]
    fn natural_order_and_escaping_follow_go() {
        let mut v = vec!["v10", "v9", "v09", "a", "1", "v1.10", "v1.9"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["1", "a", "v1.9", "v1.10", "v9", "v09", "v10"]);
        let mut s = String::new();
        go_string("a<b>&\u{8}\u{c}\u{1}", &mut s);
        assert_eq!(s, "\"a\\u003cb\\u003e\\u0026\\b\\f\\u0001\"");
        assert_eq!(truncate_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
