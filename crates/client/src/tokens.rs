//! Where a job's token is kept while the job runs, so that a reconnect (or
//! another process, such as `bookstrack watch`) can use it; deleted when
//! the job ends.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredToken {
    pub token: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub refreshable_from: Option<i64>,
}

impl StoredToken {
    /// A token whose expiry is not known.
    pub fn bare(token: impl Into<String>) -> StoredToken {
        StoredToken {
            token: token.into(),
            expires_at: None,
            refreshable_from: None,
        }
    }

    /// The token a refresh gave, with the same refresh window as this one.
    pub fn renewed(&self, token: String, expires_at: Option<i64>) -> StoredToken {
        let window = self
            .expires_at
            .zip(self.refreshable_from)
            .map(|(e, f)| e - f);
        StoredToken {
            token,
            expires_at,
            refreshable_from: expires_at.zip(window).map(|(e, w)| e - w),
        }
    }
}

impl From<&bookstrack_protocol::JobStarted> for StoredToken {
    fn from(s: &bookstrack_protocol::JobStarted) -> StoredToken {
        StoredToken {
            token: s.token.clone(),
            expires_at: s.expires_at,
            refreshable_from: s.refreshable_from,
        }
    }
}

pub trait TokenStore: Send + Sync {
    fn get(&self, job_id: &str) -> Option<StoredToken>;
    fn put(&self, job_id: &str, token: &StoredToken) -> std::io::Result<()>;
    fn delete(&self, job_id: &str) -> std::io::Result<()>;
}

#[derive(Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<String, StoredToken>>,
}

impl TokenStore for MemoryTokenStore {
    fn get(&self, job_id: &str) -> Option<StoredToken> {
        self.tokens.lock().ok()?.get(job_id).cloned()
    }
    fn put(&self, job_id: &str, token: &StoredToken) -> std::io::Result<()> {
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(job_id.to_string(), token.clone());
        }
        Ok(())
    }
    fn delete(&self, job_id: &str) -> std::io::Result<()> {
        if let Ok(mut t) = self.tokens.lock() {
            t.remove(job_id);
        }
        Ok(())
    }
}

/// One file per job, readable by its owner only (0600, in a 0700 folder).
pub struct FileTokenStore {
    dir: PathBuf,
}

impl FileTokenStore {
    pub fn new(dir: impl Into<PathBuf>) -> FileTokenStore {
        FileTokenStore { dir: dir.into() }
    }

    /// `$BOOKSTRACK_TOKEN_DIR`, else `$XDG_DATA_HOME/bookstrack/tokens`,
    /// else `~/.local/share/bookstrack/tokens`.
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("BOOKSTRACK_TOKEN_DIR") {
            return PathBuf::from(d);
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share")))
            .unwrap_or_else(std::env::temp_dir);
        data.join("bookstrack").join("tokens")
    }

    /// Job ids come from a server: only a safe file name is used.
    fn path(&self, job_id: &str) -> PathBuf {
        let name: String = job_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(128)
            .collect();
        self.dir.join(format!("{name}.json"))
    }
}

impl TokenStore for FileTokenStore {
    fn get(&self, job_id: &str) -> Option<StoredToken> {
        serde_json::from_slice(&std::fs::read(self.path(job_id)).ok()?).ok()
    }

    /// Written under a unique temporary name (0600) beside the file, then
    /// renamed into place: two writers, in one process or several, never
    /// share a temporary file, and a reader never sees half a token.
    fn put(&self, job_id: &str, token: &StoredToken) -> std::io::Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(&self.dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        }
        // tempfile creates the file 0600.
        let mut tmp = tempfile::Builder::new()
            .prefix(".token-")
            .suffix(".tmp")
            .tempfile_in(&self.dir)?;
        tmp.write_all(&serde_json::to_vec(token).expect("token serialises"))?;
        tmp.persist(self.path(job_id)).map_err(|e| e.error)?;
        Ok(())
    }

    fn delete(&self, job_id: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(job_id)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_store_round_trip_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let s = FileTokenStore::new(dir.path().join("tokens"));
        let t = StoredToken {
            token: "abc".into(),
            expires_at: Some(5),
            refreshable_from: None,
        };
        s.put("job-1/../x", &t).unwrap();
        assert_eq!(s.get("job-1/../x"), Some(t));
        let file = dir.path().join("tokens/job-1x.json");
        assert!(file.exists(), "the job id cannot escape the folder");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        s.delete("job-1/../x").unwrap();
        assert!(!file.exists());
        s.delete("job-1/../x").unwrap();
    }

    #[test]
    fn writers_at_once_never_share_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(FileTokenStore::new(dir.path().join("tokens")));
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for n in 0..20 {
                        let t = StoredToken {
                            token: format!("t{i}-{n}"),
                            expires_at: None,
                            refreshable_from: None,
                        };
                        s.put(&format!("job-{}", i % 4), &t).unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("tokens"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["job-0.json", "job-1.json", "job-2.json", "job-3.json"]
        );
        for j in 0..4 {
            // The last rename is some writer's last token, and whole.
            let t = s.get(&format!("job-{j}")).expect("a whole token");
            assert!(t.token.ends_with("-19"), "{}", t.token);
        }
    }
}
