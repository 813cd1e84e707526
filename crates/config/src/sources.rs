//! [`Sources`]: the inputs settings are loaded from, gathered in one value so that tests can
//! build them by hand instead of touching the process environment.

use std::path::PathBuf;

/// The file loaded at start when it exists, relative to the working directory.
pub const DEFAULT_FILE: &str = "config/default.toml";

/// The prefix of environment variables that set keys: `CHAT__<SECTION>__<KEY>`.
pub const ENV_PREFIX: &str = "CHAT__";

/// Where settings come from, in increasing precedence: compiled defaults < `default_file` <
/// `config_file` < `env` < the flags `listen` and `log_level`.
///
/// Tests build this by hand; the server builds it with [`Sources::from_process`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// Loaded when present; a missing file is fine (the compiled defaults are the same values).
    pub default_file: Option<PathBuf>,
    /// `--config PATH`: given explicitly, so a missing or unreadable file is an error.
    pub config_file: Option<PathBuf>,
    /// Environment variables as `(name, value)`; only names starting with `CHAT__` are used,
    /// e.g. `CHAT__WS__IDLE_TIMEOUT=2s`. Lists are comma-separated.
    pub env: Vec<(String, String)>,
    /// `--listen ADDR`: overrides `server.listen`.
    pub listen: Option<String>,
    /// `--log-level LEVEL`: overrides `log.level`.
    pub log_level: Option<String>,
}

impl Sources {
    /// The sources of a running server: [`DEFAULT_FILE`] if it exists, the given `--config`
    /// file, the process environment's `CHAT__*` variables, and the given flags.
    pub fn from_process(
        config_file: Option<PathBuf>,
        listen: Option<String>,
        log_level: Option<String>,
    ) -> Self {
        let default_file = PathBuf::from(DEFAULT_FILE);
        // `vars_os`, not `vars`: a non-UTF-8 variable elsewhere in the environment must not
        // panic the server. A non-UTF-8 `CHAT__` value is kept lossily and then fails validation.
        let env = std::env::vars_os()
            .filter_map(|(name, value)| {
                let name = name.into_string().ok()?;
                name.starts_with(ENV_PREFIX)
                    .then(|| (name, value.to_string_lossy().into_owned()))
            })
            .collect();
        Self {
            default_file: default_file.exists().then_some(default_file),
            config_file,
            env,
            listen,
            log_level,
        }
    }
}
