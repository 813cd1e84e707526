//! Any configuration an operator could write: a TOML file, and `CHAT__` variables (one per
//! line, `NAME=value`, after a NUL byte). Loading gives settings or an error naming a key,
//! never a panic.
#![no_main]

use chat_config::{Settings, Sources};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (toml, env) = text.split_once('\0').unwrap_or((&text, ""));
    let _ = Settings::from_toml_str(toml);
    let env = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (format!("CHAT__{name}"), value.to_owned()))
        .collect();
    let _ = Settings::load(&Sources {
        env,
        ..Sources::default()
    });
});
