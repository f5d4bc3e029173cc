//! [`GrainsHandle`]: the minion's current grains, shared by the executor and
//! every master link, with the persisted layer (`grains.setval`) and change
//! notification (a link sends new grains to its master at once).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use brine_proto::Grains;
use tokio::sync::watch;

use crate::config::MinionConfig;

/// Grains that change by themselves; a change in them alone does not wake
/// subscribers (the link would otherwise resend the whole set at every refresh).
const VOLATILE: &[&str] = &["uptime"];

/// Why the grains file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GrainsError {
    #[error("cannot read grains file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("grains file {path} is not a YAML mapping of grains: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot encode grains for {path}: {message}")]
    Encode { path: PathBuf, message: String },
    #[error("cannot write grains file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The minion's grains; cheap to clone.
#[derive(Clone)]
pub struct GrainsHandle {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` for a fixed set ([`GrainsHandle::from_grains`]): nothing is
    /// collected or written.
    config: Option<Arc<MinionConfig>>,
    layers: Mutex<Layers>,
    tx: watch::Sender<Arc<Grains>>,
}

/// The layers the merged set is made of, lowest precedence first (the
/// config's `grains:` come from `Inner::config`).
struct Layers {
    core: Grains,
    persisted: Grains,
}

impl GrainsHandle {
    /// Collects the core grains and merges the grains file and the config's
    /// `grains:` over them. Never fails: an unreadable grains file is logged
    /// and left out.
    pub fn load(config: &Arc<MinionConfig>) -> GrainsHandle {
        let core = super::collect_core(&config.id, &config.masters);
        GrainsHandle::with_core(config, core)
    }

    /// As [`GrainsHandle::load`], with core grains collected elsewhere
    /// (`brine-swarm` collects them once for all its minions, then sets
    /// each one's `id`).
    pub fn with_core(config: &Arc<MinionConfig>, core: Grains) -> GrainsHandle {
        let path = config.grains_file();
        let persisted = read_grains_file(&path).unwrap_or_else(|error| {
            tracing::warn!(%error, "grains file ignored");
            Grains::new()
        });
        let layers = Layers { core, persisted };
        let merged = merge(&layers, Some(config));
        let (tx, _) = watch::channel(Arc::new(merged));
        GrainsHandle {
            inner: Arc::new(Inner {
                config: Some(config.clone()),
                layers: Mutex::new(layers),
                tx,
            }),
        }
    }

    /// A fixed set, for tests: no collection, no file. `update_persisted`
    /// still works, in memory.
    pub fn from_grains(grains: Grains) -> GrainsHandle {
        let layers = Layers {
            core: grains,
            persisted: Grains::new(),
        };
        let (tx, _) = watch::channel(Arc::new(merge(&layers, None)));
        GrainsHandle {
            inner: Arc::new(Inner {
                config: None,
                layers: Mutex::new(layers),
                tx,
            }),
        }
    }

    /// The current merged grains.
    pub fn snapshot(&self) -> Arc<Grains> {
        self.inner.tx.borrow().clone()
    }

    /// A receiver woken whenever the merged grains change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Grains>> {
        self.inner.tx.subscribe()
    }

    /// Runs `f` on the persisted grains (re-read from the grains file, so a
    /// hand edit is kept), writes the file atomically if `f` changed them,
    /// recomputes the merged set and notifies subscribers. Returns `f`'s result.
    pub fn update_persisted<R>(&self, f: impl FnOnce(&mut Grains) -> R) -> Result<R, GrainsError> {
        let mut layers = self.lock();
        let mut persisted = match &self.inner.config {
            Some(c) => read_grains_file(&c.grains_file())?,
            None => layers.persisted.clone(),
        };
        let before = persisted.clone();
        let result = f(&mut persisted);
        if let Some(c) = &self.inner.config {
            if persisted != before {
                write_grains_file(&c.grains_file(), &persisted)?;
            }
        }
        layers.persisted = persisted;
        self.publish(&layers);
        Ok(result)
    }

    /// Re-collects the core grains and re-reads the grains file
    /// (`saltutil.refresh_grains`); subscribers are woken only if something
    /// other than a volatile grain changed. A fixed set stays as it is.
    pub fn refresh(&self) {
        let Some(config) = &self.inner.config else {
            return;
        };
        let core = super::collect_core(&config.id, &config.masters);
        let mut layers = self.lock();
        layers.core = core;
        match read_grains_file(&config.grains_file()) {
            Ok(p) => layers.persisted = p,
            Err(error) => tracing::warn!(%error, "grains file ignored, previous values kept"),
        }
        self.publish(&layers);
    }

    fn lock(&self) -> MutexGuard<'_, Layers> {
        // A panic inside `f` poisons the lock; the layers are still whole
        // (they are replaced only after `f` returns), so carry on.
        self.inner.layers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, layers: &Layers) {
        let merged = merge(layers, self.inner.config.as_ref());
        self.inner.tx.send_if_modified(|current| {
            let changed = differs_beyond_volatile(current, &merged);
            // Store even a volatile-only change, so snapshots stay fresh.
            if **current != merged {
                *current = Arc::new(merged);
            }
            changed
        });
    }
}

/// Salt's precedence: core < grains file < config `grains:`. The `id` grain
/// is always the minion id: the master keys its inventory on it.
fn merge(layers: &Layers, config: Option<&Arc<MinionConfig>>) -> Grains {
    let mut g = layers.core.clone();
    g.extend(layers.persisted.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(c) = config {
        g.extend(c.grains.iter().map(|(k, v)| (k.clone(), v.clone())));
        g.insert("id".into(), serde_json::Value::String(c.id.clone()));
    }
    g
}

fn differs_beyond_volatile(a: &Grains, b: &Grains) -> bool {
    let keys = a.keys().chain(b.keys());
    keys.filter(|k| !VOLATILE.contains(&k.as_str()))
        .any(|k| a.get(k) != b.get(k))
}

/// The grains file as a map; a missing or empty file is an empty map.
pub(crate) fn read_grains_file(path: &Path) -> Result<Grains, GrainsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Grains::new()),
        Err(source) => {
            return Err(GrainsError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse_grains(&text).map_err(|message| GrainsError::Parse {
        path: path.to_path_buf(),
        message,
    })
}

/// Grains YAML text -> map; a document that is empty or only comments is an
/// empty map.
fn parse_grains(text: &str) -> Result<Grains, String> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    match value {
        serde_yaml::Value::Null => Ok(Grains::new()),
        v @ serde_yaml::Value::Mapping(_) => serde_yaml::from_value(v).map_err(|e| e.to_string()),
        _ => Err("the top level is not a mapping".into()),
    }
}

/// Writes the grains file: a temporary file in the same directory, synced,
/// then renamed over the old one, so a crash never leaves half a file.
fn write_grains_file(path: &Path, grains: &Grains) -> Result<(), GrainsError> {
    let write_err = |source| GrainsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let text = if grains.is_empty() {
        String::new()
    } else {
        serde_yaml::to_string(grains).map_err(|e| GrainsError::Encode {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brine_proto::conf::RawConfig;
    use serde_json::json;

    fn config(dir: &Path, extra: &str) -> Arc<MinionConfig> {
        let text = format!("id: m1\nroot_dir: {}\n{extra}", dir.display());
        let raw = RawConfig::parse("minion", &text).unwrap();
        Arc::new(MinionConfig::from_raw(Path::new("/etc/brine"), raw).unwrap())
    }

    fn obj(v: serde_json::Value) -> Grains {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn precedence_is_core_then_file_then_config() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), "grains:\n  roles: [web]\n  os: FromConfig\n");
        let file = c.grains_file();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "os: FromFile\nkernel: FromFile\nid: spoofed\n").unwrap();
        let h = GrainsHandle::load(&c);
        let g = h.snapshot();
        assert_eq!(g["os"], "FromConfig");
        assert_eq!(g["kernel"], "FromFile");
        assert_eq!(g["roles"], json!(["web"]));
        assert_eq!(g["id"], "m1");
        assert!(g.contains_key("cpuarch"));
    }

    #[test]
    fn update_persisted_writes_the_file_and_notifies() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), "");
        let h = GrainsHandle::load(&c);
        let mut rx = h.subscribe();
        let n = h
            .update_persisted(|g| {
                g.insert("role".into(), json!("db"));
                g.len()
            })
            .unwrap();
        assert_eq!(n, 1);
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update()["role"], "db");
        let on_disk = read_grains_file(&c.grains_file()).unwrap();
        assert_eq!(on_disk["role"], "db");
        // A hand edit between two updates is kept.
        std::fs::write(c.grains_file(), "role: db\nrack: r12\n").unwrap();
        h.update_persisted(|g| g.remove("role")).unwrap();
        assert_eq!(
            read_grains_file(&c.grains_file()).unwrap(),
            obj(json!({"rack": "r12"}))
        );
        let g = h.snapshot();
        assert!(!g.contains_key("role"));
        assert_eq!(g["rack"], "r12");
        // No leftover temporary file.
        let names: Vec<_> = std::fs::read_dir(c.grains_file().parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["grains"]);
    }

    #[test]
    fn a_broken_grains_file_is_named_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path(), "");
        let file = c.grains_file();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "- just\n- a list\n").unwrap();
        let h = GrainsHandle::load(&c);
        assert!(h.snapshot().contains_key("os"));
        let err = h
            .update_persisted(|g| g.insert("x".into(), json!(1)))
            .unwrap_err();
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "- just\n- a list\n"
        );
    }

    #[test]
    fn fixed_sets_update_in_memory_and_refresh_is_a_no_op() {
        let h = GrainsHandle::from_grains(obj(json!({"os": "Debian", "id": "t"})));
        let mut rx = h.subscribe();
        h.refresh();
        assert!(!rx.has_changed().unwrap());
        h.update_persisted(|g| g.insert("os".into(), json!("Rocky")))
            .unwrap();
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update()["os"], "Rocky");
        // Unchanged: no wake-up.
        h.update_persisted(|_| ()).unwrap();
        assert!(!rx.has_changed().unwrap());
    }

    #[test]
    fn volatile_changes_do_not_wake_subscribers() {
        let a = obj(json!({"os": "Debian", "uptime": 1}));
        let b = obj(json!({"os": "Debian", "uptime": 2}));
        assert!(!differs_beyond_volatile(&a, &b));
        let c = obj(json!({"os": "Rocky", "uptime": 2}));
        assert!(differs_beyond_volatile(&a, &c));
    }

    #[test]
    fn grains_text() {
        assert_eq!(parse_grains("# nothing yet\n").unwrap(), Grains::new());
        assert_eq!(parse_grains("").unwrap(), Grains::new());
        assert!(parse_grains("a: [\n").is_err());
    }
}
