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
        let given = Given::read(config)?;
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
        let read_key = pick(given.read_key.as_ref(), &mut stored.read_key, "read key");
        let admin_key = pick(given.admin_key.as_ref(), &mut stored.admin_key, "admin key");
        let hash_secret = pick(
            given.hash_secret.as_ref(),
            &mut stored.hash_secret,
            "hash secret",
        );
        let project_hash_key = pick(
            given.project_hash_key.as_ref(),
            &mut stored.project_hash_key,
            "project hash key",
        );
        let specs = if given.write_keys.is_empty() {
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
            given.write_keys
        };
        check_strength(&read_key, &admin_key, &hash_secret, &specs)?;
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
        !key.is_empty() && constant_time_eq(key.as_bytes(), self.read_key.as_bytes())
    }

    pub fn is_admin_key(&self, key: &str) -> bool {
        !key.is_empty() && constant_time_eq(key.as_bytes(), self.admin_key.as_bytes())
    }

    pub fn hash_secret(&self) -> &str {
        &self.hash_secret
    }
}

/// The secrets given in the config, each from its flag or its `*-file` (never both).
struct Given {
    read_key: Option<String>,
    admin_key: Option<String>,
    hash_secret: Option<String>,
    project_hash_key: Option<String>,
    write_keys: Vec<WriteKeySpec>,
}

impl Given {
    fn read(config: &Config) -> Result<Self, CollectorError> {
        let f = &config.key_files;
        let mut write_keys = config.write_keys.clone();
        if let Some(text) = from_file(None, f.write_keys_file.as_deref(), "--write-keys-file")? {
            if !write_keys.is_empty() {
                return Err(CollectorError::Config(
                    "give write keys by --write-key or --write-keys-file, not both".into(),
                ));
            }
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                write_keys.push(
                    line.parse()
                        .map_err(|e| CollectorError::Config(format!("--write-keys-file: {e}")))?,
                );
            }
        }
        Ok(Self {
            read_key: from_file(
                config.read_key.clone(),
                f.read_key_file.as_deref(),
                "read key",
            )?,
            admin_key: from_file(
                config.admin_key.clone(),
                f.admin_key_file.as_deref(),
                "admin key",
            )?,
            hash_secret: from_file(
                config.hash_secret.clone(),
                f.hash_secret_file.as_deref(),
                "hash secret",
            )?,
            project_hash_key: config.project_hash_key.clone(),
            write_keys,
        })
    }
}

/// A secret's value: the flag's, or the file's contents without surrounding whitespace.
fn from_file(
    value: Option<String>,
    file: Option<&Path>,
    name: &str,
) -> Result<Option<String>, CollectorError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(CollectorError::Config(format!(
            "the {name} is given twice, by its flag and by its file"
        ))),
        (value, None) => Ok(value),
        (None, Some(path)) => fs::read_to_string(path)
            .map(|text| Some(text.trim().to_owned()))
            .map_err(|e| CollectorError::Config(format!("{name} file {}: {e}", path.display()))),
    }
}

/// Shortest read key, admin key and hash secret accepted.
pub const MIN_SECRET_CHARS: usize = 12;

/// Refuses secrets a guess could find: empty or short read key, admin key or hash
/// secret (an empty one would let `Authorization: Basic Og==` in, or make pseudonyms
/// reversible by guessing), an admin key equal to the read key, and a read or admin key
/// that is also a write key (write keys sit in pages and apps).
fn check_strength(
    read_key: &str,
    admin_key: &str,
    hash_secret: &str,
    write_keys: &[WriteKeySpec],
) -> Result<(), CollectorError> {
    for (name, value) in [
        ("read key", read_key),
        ("admin key", admin_key),
        ("hash secret", hash_secret),
    ] {
        let chars = value.chars().count();
        if chars < MIN_SECRET_CHARS || value.trim() != value {
            return Err(CollectorError::Config(format!(
                "the {name} is {}; give at least {MIN_SECRET_CHARS} characters without \
                 surrounding spaces, or leave it out to have one generated",
                if chars == 0 {
                    "empty".to_owned()
                } else {
                    format!("{chars} characters")
                }
            )));
        }
    }
    if read_key == admin_key {
        return Err(CollectorError::Config(
            "the read key and the admin key are the same; give two different keys".into(),
        ));
    }
    for spec in write_keys {
        if spec.key.trim() != spec.key || spec.key.is_empty() {
            return Err(CollectorError::Config(format!(
                "write key {:?} is empty or has surrounding spaces",
                spec.key
            )));
        }
        if spec.key == read_key || spec.key == admin_key {
            return Err(CollectorError::Config(
                "a write key equals the read or admin key; write keys are public".into(),
            ));
        }
    }
    Ok(())
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
        config.read_key = Some("read-key-0123".into());
        config.admin_key = Some("admin-key-0123".into());
        config.hash_secret = Some("hash-secret-0123".into());
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
        assert!(keys.is_admin_key("admin-key-0123"));
        config.hash_secret = Some("another-secret".into());
        let refused = Keys::resolve(&config)
            .err()
            .expect("another secret is refused");
        assert!(
            refused.to_string().contains("hash secret differs"),
            "{refused}"
        );
        config.hash_secret = Some("hash-secret-0123".into());
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
    fn empty_short_or_shared_secrets_are_refused() {
        let dir = std::env::temp_dir().join(format!("cairn-keys-weak-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let strong = |config: &mut Config| {
            config.read_key = Some("read-key-0123".into());
            config.admin_key = Some("admin-key-0123".into());
            config.hash_secret = Some("hash-secret-0123".into());
        };
        type Weaken = fn(&mut Config);
        let cases: [(&str, Weaken); 5] = [
            ("read key is empty", |c| c.read_key = Some(String::new())),
            ("admin key is 5 characters", |c| {
                c.admin_key = Some("admin".into())
            }),
            ("hash secret is empty", |c| {
                c.hash_secret = Some(String::new())
            }),
            ("are the same", |c| c.admin_key = c.read_key.clone()),
            ("write keys are public", |c| {
                c.write_keys = vec![c.read_key.clone().unwrap().parse().unwrap()]
            }),
        ];
        for (message, weaken) in cases {
            let mut config = Config::with_data_dir(&dir);
            strong(&mut config);
            weaken(&mut config);
            let refused = Keys::resolve(&config).err().expect(message).to_string();
            assert!(refused.contains(message), "{message}: {refused}");
            assert!(!dir.join(KEYS_FILE).exists(), "nothing kept for {message}");
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn secrets_from_files() {
        let dir = std::env::temp_dir().join(format!("cairn-keys-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.join(name);
            fs::write(&path, text).unwrap();
            Some(path)
        };
        let mut config = Config::with_data_dir(dir.join("data"));
        config.key_files.read_key_file = file("read", "read-key-from-file\n");
        config.key_files.admin_key_file = file("admin", "admin-key-from-file");
        config.key_files.hash_secret_file = file("secret", "  hash-secret-from-file\n");
        config.key_files.write_keys_file = file("write", "wk-a:source=web\n\nwk-b:server\n");
        let (keys, generated) = Keys::resolve(&config).unwrap();
        assert!(generated.iter().all(|g| g.name == "project hash key"));
        assert!(keys.is_read_key("read-key-from-file"));
        assert!(keys.is_admin_key("admin-key-from-file"));
        assert_eq!(keys.hash_secret(), "hash-secret-from-file");
        assert!(keys.write_key("wk-b").unwrap().server);
        config.read_key = Some("read-key-from-flag".into());
        let twice = Keys::resolve(&config)
            .err()
            .expect("flag and file")
            .to_string();
        assert!(twice.contains("given twice"), "{twice}");
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
