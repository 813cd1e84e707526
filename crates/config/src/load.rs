//! Loading: layers the sources with the `config` crate, rejects unknown keys, deserializes the
//! merged tree into [`Settings`] and validates it.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::Path;

use config::builder::DefaultState;
use config::{Config, ConfigBuilder, Environment, File, FileFormat, Map, Source, Value, ValueKind};

use crate::error::ConfigError;
use crate::settings::Settings;
use crate::sources::{ENV_PREFIX, Sources};
use crate::validate::validate;

/// Largest configuration file read, in bytes: hundreds of times the shipped one, and a
/// `--config /dev/zero` (or any endless file) stops here instead of filling the memory.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

impl Settings {
    /// Loads settings from `sources` (see [`Sources`] for the precedence) and validates them.
    ///
    /// A missing `default_file` is skipped; a missing `config_file` is an error naming its path.
    pub fn load(sources: &Sources) -> Result<Settings, ConfigError> {
        let mut loader = Loader::new()?;
        if let Some(path) = &sources.default_file {
            match read_file(path) {
                Ok(text) => loader = loader.toml(&path.display().to_string(), &text)?,
                // The default file is optional: the compiled defaults hold the same values.
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(read_error(path, error)),
            }
        }
        if let Some(path) = &sources.config_file {
            let text = read_file(path).map_err(|error| read_error(path, error))?;
            loader = loader.toml(&path.display().to_string(), &text)?;
        }
        loader
            .env(&sources.env)?
            .flag("server.listen", sources.listen.as_deref())?
            .flag("log.level", sources.log_level.as_deref())?
            .finish()
    }

    /// The compiled defaults overlaid with `toml`, validated: what a file alone would give.
    pub fn from_toml_str(toml: &str) -> Result<Settings, ConfigError> {
        Loader::new()?.toml("TOML string", toml)?.finish()
    }
}

/// Reads a whole configuration file of at most [`MAX_FILE_BYTES`].
fn read_file(path: &Path) -> io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {MAX_FILE_BYTES} bytes (expected a TOML file of at most 1 MiB)"),
        ));
    }
    Ok(text)
}

fn read_error(path: &Path, error: io::Error) -> ConfigError {
    ConfigError::ReadFile {
        path: path.to_path_buf(),
        error,
    }
}

/// Accumulates layers in precedence order; each layer is checked for unknown keys on its own,
/// so the error can say which file or variable the key came from.
struct Loader {
    builder: ConfigBuilder<DefaultState>,
    /// Every valid path: the section names and the `section.key` leaves.
    known: BTreeSet<String>,
}

impl Loader {
    fn new() -> Result<Self, ConfigError> {
        // The known keys are read off the serialized defaults, so adding a field to `Settings`
        // is enough. Through JSON rather than `Config::try_from`: the latter writes no key for
        // an empty list such as `server.allowed_origins`.
        let defaults =
            serde_json::to_value(Settings::default()).map_err(|error| ConfigError::Other {
                detail: error.to_string(),
            })?;
        let mut known = BTreeSet::new();
        json_paths(&defaults, "", &mut known);
        Ok(Self {
            builder: Config::builder(),
            known,
        })
    }

    /// Adds a TOML document; `origin` names it in error messages.
    fn toml(self, origin: &str, text: &str) -> Result<Self, ConfigError> {
        // Parsed once into a `Config`, which is itself a source for the next layer up.
        let layer = Config::builder()
            .add_source(File::from_str(text, FileFormat::Toml))
            .build()
            .map_err(|error| syntax_error(origin, error))?;
        self.check(&layer.collect().map_err(other)?, |_| origin.to_owned())?;
        Ok(Self {
            builder: self.builder.add_source(layer),
            known: self.known,
        })
    }

    /// Adds the `CHAT__SECTION__KEY` variables of `vars`; others are ignored.
    ///
    /// The separator `__` leaves single underscores alone, so `CHAT__WS__MAX_FRAME_BYTES` is
    /// `ws.max_frame_bytes`. Values stay strings (no `try_parsing`): each field's deserializer
    /// parses its own type, so a numeric `auth.jwt_secret` stays the exact string given.
    fn env(self, vars: &[(String, String)]) -> Result<Self, ConfigError> {
        let prefix = ENV_PREFIX.trim_end_matches('_');
        let environment = Environment::with_prefix(prefix)
            .prefix_separator("__")
            .separator("__")
            .source(Some(vars.iter().cloned().collect()));
        let layer = environment.collect().map_err(other)?;
        self.check(&layer, |key| {
            let name = format!("{ENV_PREFIX}{}", key.replace('.', "__")).to_uppercase();
            format!("environment variable {name}")
        })?;
        Ok(Self {
            builder: self.builder.add_source(environment),
            known: self.known,
        })
    }

    /// Sets `key` from a command-line flag, above every other source.
    fn flag(self, key: &str, value: Option<&str>) -> Result<Self, ConfigError> {
        Ok(Self {
            builder: self
                .builder
                .set_override_option(key, value.map(str::to_owned))
                .map_err(other)?,
            known: self.known,
        })
    }

    /// Merges the layers over the compiled defaults, then validates.
    fn finish(self) -> Result<Settings, ConfigError> {
        let merged = self.builder.build().map_err(other)?;
        let text_set = is_set(&merged, "ws.max_text_bytes");
        let idle_set = is_set(&merged, "ws.idle_timeout");
        // Keys a layer leaves out keep their compiled default through `#[serde(default)]`.
        let mut settings: Settings = merged
            .try_deserialize()
            .map_err(ConfigError::from_deserialize)?;
        // Only values someone set can clash: a default follows them instead (CONFIG.md). With
        // `ws.max_frame_bytes = 1024` alone, the text limit is what fits in a frame; with
        // `ws.ping_interval = "2m"` alone, two pings may go unanswered before the idle timeout.
        let ws = &mut settings.ws;
        if !text_set {
            ws.max_text_bytes = ws.max_text_bytes.min(ws.max_frame_bytes);
        }
        if !idle_set {
            ws.idle_timeout = ws.idle_timeout.max(ws.ping_interval.saturating_mul(2));
        }
        validate(&settings)?;
        Ok(settings)
    }

    /// Rejects the first (in sorted order) path of `layer` that is not a known key.
    fn check(
        &self,
        layer: &Map<String, Value>,
        origin: impl Fn(&str) -> String,
    ) -> Result<(), ConfigError> {
        let mut found = BTreeSet::new();
        paths(layer, "", &mut found);
        match found.into_iter().find(|path| !self.known.contains(path)) {
            Some(key) => Err(ConfigError::UnknownKey {
                origin: origin(&key),
                // `CHAT__` alone names the empty key; show it rather than nothing.
                key: if key.is_empty() {
                    "\"\"".to_owned()
                } else {
                    key
                },
            }),
            None => Ok(()),
        }
    }
}

/// Whether a source set `key`: the merged layers hold no compiled defaults, only what the
/// files, the environment and the flags gave.
fn is_set(merged: &Config, key: &str) -> bool {
    merged.get::<Value>(key).is_ok()
}

/// Collects the dotted path of every table and leaf under `table` into `out`.
///
/// Tables count too, so that an empty `[section]` is checked like a key.
fn paths(table: &Map<String, Value>, prefix: &str, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if let ValueKind::Table(inner) = &value.kind {
            paths(inner, &path, out);
        }
        out.insert(path);
    }
}

/// Like [`paths`], for the serialized defaults.
fn json_paths(value: &serde_json::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let serde_json::Value::Object(table) = value {
        for (key, inner) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            json_paths(inner, &path, out);
            out.insert(path);
        }
    }
}

fn syntax_error(origin: &str, error: config::ConfigError) -> ConfigError {
    let detail = match error {
        config::ConfigError::FileParse { cause, .. } => cause.to_string(),
        other => other.to_string(),
    };
    ConfigError::Syntax {
        origin: origin.to_owned(),
        detail: detail.trim_end().to_owned(),
    }
}

fn other(error: config::ConfigError) -> ConfigError {
    ConfigError::Other {
        detail: error.to_string(),
    }
}
