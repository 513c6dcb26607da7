//! The collector's secrets: write keys (with their source, role and project hash key),
//! the read and admin keys, the default project hash key and the hash secret. A secret
//! not given in the config is generated once, kept in `keys.json` in the data dir (mode
//! 0600) and reported to the caller so it can be printed exactly once.

use std::{collections::HashMap, fs, io::Write, path::Path, str::FromStr, sync::Arc};

use cairn_protocol::identity::{hex, ProjectHasher};
use ring::{
    digest,
    rand::{SecureRandom, SystemRandom},
};
use serde::{Deserialize, Serialize};

use crate::{CollectorError, Config};

const KEYS_FILE: &str = "keys.json";
/// The source of a write key that names none.
pub const DEFAULT_SOURCE: &str = "default";

/// A write key's short stable id: deduplication is per write key without storing the key.
pub type WriteKeyId = [u8; 8];

/// One configured write key: `KEY[:source=NAME][:server][:hash-key=K]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteKeySpec {
    pub key: String,
    pub source: Option<String>,
    pub server: bool,
    pub hash_key: Option<String>,
}

impl FromStr for WriteKeySpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.trim().split(':');
        let key = parts.next().unwrap_or_default().to_owned();
        if key.is_empty() {
            return Err("a write key is empty".into());
        }
        let mut spec = WriteKeySpec {
            key,
            source: None,
            server: false,
            hash_key: None,
        };
        for option in parts {
            match option.split_once('=') {
                None if option == "server" => spec.server = true,
                Some(("source", name)) if !name.is_empty() => spec.source = Some(name.into()),
                Some(("hash-key", k)) if !k.is_empty() => spec.hash_key = Some(k.into()),
                _ => {
                    return Err(format!(
                        "write key option {option:?}: expected source=NAME, server or hash-key=K"
                    ))
                }
            }
        }
        Ok(spec)
    }
}

/// What a write key is, as ingest needs it.
#[derive(Clone)]
pub struct WriteKey {
    pub id: WriteKeyId,
    /// The name its events carry in the feed; never the key.
    pub source: Arc<str>,
    /// Server keys may link two user ids by alias; client keys (in pages and apps,
    /// hence public) may only tie anonymous ids to a user.
    pub server: bool,
    /// Hashes what arrives raw, as the key's SDKs hash on the device.
    pub project: Arc<ProjectHasher>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredKeys {
    write_keys: Vec<String>,
    read_key: Option<String>,
    admin_key: Option<String>,
    #[serde(default)]
    project_hash_key: Option<String>,
    hash_secret: Option<String>,
    /// HMAC of a fixed text under the hash secret the data was written with: a later
    /// start with another secret would hash identities differently and deletion would
    /// silently miss every existing user, so it is refused.
    hash_secret_check: Option<String>,
    /// The same for the default project hash key: raw ids would get other pseudonyms.
    #[serde(default)]
    project_hash_key_check: Option<String>,
}

pub struct Keys {
    write_keys: HashMap<String, WriteKey>,
    /// Every distinct project hash key, the default first.
    projects: Vec<Arc<ProjectHasher>>,
    read_key: String,
    admin_key: String,
    hash_secret: String,
}

/// A secret generated at this start, to be shown to the operator once.
#[derive(Debug)]
pub struct Generated {
    pub name: &'static str,
    pub value: String,
}

impl Keys {
    /// Keys from the config, falling back to those kept in the data dir, generating and
    /// keeping any that neither has.
    pub fn resolve(config: &Config) -> Result<(Self, Vec<Generated>), CollectorError> {
        let path = config.data_dir.join(KEYS_FILE);
        let mut stored: StoredKeys = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| CollectorError::Config(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoredKeys::default(),
            Err(e) => return Err(e.into()),
        };
        let mut generated = Vec::new();
        let mut pick = |given: Option<&String>, kept: &mut Option<String>, name| {
            if let Some(value) = given {
                return value.clone();
            }
            kept.get_or_insert_with(|| {
                let value = random_key();
                generated.push(Generated {
                    name,
                    value: value.clone(),
                });
                value
            })
            .clone()
        };
        let read_key = pick(config.read_key.as_ref(), &mut stored.read_key, "read key");
        let admin_key = pick(
            config.admin_key.as_ref(),
            &mut stored.admin_key,
            "admin key",
        );
        let hash_secret = pick(
            config.hash_secret.as_ref(),
            &mut stored.hash_secret,
            "hash secret",
        );
        let project_hash_key = pick(
            config.project_hash_key.as_ref(),
            &mut stored.project_hash_key,
            "project hash key",
        );
        let specs = if config.write_keys.is_empty() {
            if stored.write_keys.is_empty() {
                let value = random_key();
                generated.push(Generated {
                    name: "write key",
                    value: value.clone(),
                });
                stored.write_keys.push(value);
            }
            stored
                .write_keys
                .iter()
                .map(|k| k.parse().map_err(CollectorError::Config))
                .collect::<Result<Vec<WriteKeySpec>, _>>()?
        } else {
            config.write_keys.clone()
        };
        let dir = &config.data_dir;
        let new_check = bind(
            &mut stored.hash_secret_check,
            &hash_secret,
            "hash secret",
            dir,
        )?;
        let new_project_check = bind(
            &mut stored.project_hash_key_check,
            &project_hash_key,
            "project hash key",
            dir,
        )?;
        if !generated.is_empty() || new_check || new_project_check {
            save(&config.data_dir, &stored)?;
        }
        let mut project_keys = vec![project_hash_key];
        let mut projects = vec![Arc::new(ProjectHasher::new(project_keys[0].as_bytes()))];
        let mut write_keys = HashMap::new();
        for spec in specs {
            let hash_key = spec
                .hash_key
                .clone()
                .unwrap_or_else(|| project_keys[0].clone());
            let at = match project_keys.iter().position(|k| *k == hash_key) {
                Some(at) => at,
                None => {
                    project_keys.push(hash_key.clone());
                    projects.push(Arc::new(ProjectHasher::new(hash_key.as_bytes())));
                    projects.len() - 1
                }
            };
            let key = WriteKey {
                id: write_key_id(&spec.key),
                source: spec.source.as_deref().unwrap_or(DEFAULT_SOURCE).into(),
                server: spec.server,
                project: projects[at].clone(),
            };
            if write_keys.insert(spec.key.clone(), key).is_some() {
                return Err(CollectorError::Config(format!(
                    "write key {:?} is configured twice",
                    spec.key
                )));
            }
        }
        let keys = Keys {
            write_keys,
            projects,
            read_key,
            admin_key,
            hash_secret,
        };
        Ok((keys, generated))
    }

    pub fn write_key(&self, key: &str) -> Option<&WriteKey> {
        self.write_keys.get(key)
    }

    /// Every distinct project hash key's hasher: a raw user id is deleted under each.
    pub fn projects(&self) -> &[Arc<ProjectHasher>] {
        &self.projects
    }

    pub fn is_read_key(&self, key: &str) -> bool {
        constant_time_eq(key.as_bytes(), self.read_key.as_bytes())
    }

    pub fn is_admin_key(&self, key: &str) -> bool {
        constant_time_eq(key.as_bytes(), self.admin_key.as_bytes())
    }

    pub fn hash_secret(&self) -> &str {
        &self.hash_secret
    }
}

/// Checks `secret` against the check value kept for it, or keeps one; true when kept
/// now. A secret other than the one the data was written with is refused: stored
/// identities would no longer match, and deletion would silently miss users.
fn bind(
    kept: &mut Option<String>,
    secret: &str,
    name: &str,
    data_dir: &Path,
) -> Result<bool, CollectorError> {
    let check = secret_check(secret);
    match kept {
        Some(k) if *k != check => Err(CollectorError::Config(format!(
            "the {name} differs from the one the data in {} was written with; \
             stored identities would no longer match (deletion would miss users)",
            data_dir.display()
        ))),
        Some(_) => Ok(false),
        None => {
            *kept = Some(check);
            Ok(true)
        }
    }
}

fn secret_check(secret: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    hex(ring::hmac::sign(&key, b"cairn hash secret check").as_ref())
}

fn write_key_id(key: &str) -> WriteKeyId {
    let d = digest::digest(&digest::SHA256, key.as_bytes());
    d.as_ref()[..8].try_into().expect("8 bytes")
}

fn random_key() -> String {
    let mut bytes = [0u8; 24];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system random source");
    hex(&bytes)
}

fn save(dir: &Path, keys: &StoredKeys) -> Result<(), CollectorError> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{KEYS_FILE}.tmp"));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(keys).expect("keys serialise"))?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(KEYS_FILE))?;
    // The rename is durable only once the directory is.
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_kept_and_reported_once() {
        let dir = std::env::temp_dir().join(format!("cairn-keys-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let config = Config::with_data_dir(&dir);
        let (first, generated) = Keys::resolve(&config).unwrap();
        assert_eq!(generated.len(), 5);
        let (second, again) = Keys::resolve(&config).unwrap();
        assert!(again.is_empty());
        assert_eq!(first.hash_secret(), second.hash_secret());
        assert!(second.is_read_key(&first.read_key));
        assert!(!second.is_read_key("nope"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn given_keys_win_over_kept_ones() {
        let dir = std::env::temp_dir().join(format!("cairn-keys-given-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut config = Config::with_data_dir(&dir);
        config.write_keys = vec![
            "wk1".parse().unwrap(),
            "wk2:source=backend:server:hash-key=other".parse().unwrap(),
        ];
        config.project_hash_key = Some("pk".into());
        config.read_key = Some("rk".into());
        config.admin_key = Some("ak".into());
        config.hash_secret = Some("hs".into());
        let (keys, generated) = Keys::resolve(&config).unwrap();
        assert!(generated.is_empty());
        let (wk1, wk2) = (
            keys.write_key("wk1").unwrap(),
            keys.write_key("wk2").unwrap(),
        );
        assert_eq!((&*wk1.source, wk1.server), (DEFAULT_SOURCE, false));
        assert_eq!((&*wk2.source, wk2.server), ("backend", true));
        assert_eq!(
            wk1.project.user_id("u"),
            ProjectHasher::new(b"pk").user_id("u")
        );
        assert_eq!(
            wk2.project.user_id("u"),
            ProjectHasher::new(b"other").user_id("u")
        );
        assert_eq!(keys.projects().len(), 2);
        assert!(keys.write_key("wk3").is_none());
        assert!(keys.is_admin_key("ak"));
        config.hash_secret = Some("another".into());
        let refused = Keys::resolve(&config)
            .err()
            .expect("another secret is refused");
        assert!(
            refused.to_string().contains("hash secret differs"),
            "{refused}"
        );
        config.hash_secret = Some("hs".into());
        config.project_hash_key = Some("another".into());
        let refused = Keys::resolve(&config)
            .err()
            .expect("another project hash key is refused");
        assert!(
            refused.to_string().contains("project hash key differs"),
            "{refused}"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn write_key_syntax() {
        let spec: WriteKeySpec = "k1:server:source=shop".parse().unwrap();
        assert_eq!(
            (spec.key.as_str(), spec.server, spec.source.as_deref()),
            ("k1", true, Some("shop"))
        );
        assert!("k1:admin".parse::<WriteKeySpec>().is_err());
        assert!(":server".parse::<WriteKeySpec>().is_err());
        assert!("k1:source=".parse::<WriteKeySpec>().is_err());
    }
}
