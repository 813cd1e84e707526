//! Field-level serde helpers: how one raw value (TOML, or an environment string) becomes a typed
//! field, and the message when it cannot.
//!
//! Every source may deliver a value as a string (environment variables always do), so each helper
//! accepts the native TOML type and its string spelling. Error messages follow one shape,
//! `<value> is not <what> (expected <example>)`; the loader puts `section.key: ` in front.

use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// What the message says a duration looks like.
const DURATION_EXAMPLE: &str = "e.g. \"25s\", \"500ms\"";

/// Parses `text` as one of `choices`, ignoring ASCII case (`JSON` from an environment is fine).
pub(crate) fn keyword<T: Copy>(text: &str, choices: &[(&str, T)]) -> Result<T, String> {
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text.trim()))
        .map(|&(_, choice)| choice)
        .ok_or_else(|| {
            let names: Vec<String> = choices
                .iter()
                .map(|(name, _)| format!("{name:?}"))
                .collect();
            format!(
                "{text:?} is not a valid choice (expected one of {})",
                names.join(", ")
            )
        })
}

/// A socket address such as `0.0.0.0:8080` or `[::1]:8080`.
pub(crate) fn socket_addr<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.trim().parse().map_err(|_| {
        de::Error::custom(format!(
            "{text:?} is not a socket address (expected e.g. \"0.0.0.0:8080\" or \"[::1]:8080\")"
        ))
    })
}

/// A count: a whole number that fits `T`, given as an integer or a string of digits.
pub(crate) fn count<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Count,
{
    deserializer.deserialize_any(CountVisitor(PhantomData))
}

struct CountVisitor<T>(PhantomData<T>);

impl<T: Count> CountVisitor<T> {
    fn fit<E: de::Error>(number: u64) -> Result<T, E> {
        T::try_from(number).map_err(|_| {
            E::custom(format!(
                "{number} is too large (expected at most {})",
                T::MAX
            ))
        })
    }
}

/// An unsigned integer type a count field may have; `MAX` goes into the "too large" message.
pub(crate) trait Count: TryFrom<u64> {
    /// The largest value of the type, widened to `u64`.
    const MAX: u64;
}

impl Count for u32 {
    const MAX: u64 = u32::MAX as u64;
}

impl Count for usize {
    // Widening: usize is at most 64 bits on every target Rust supports.
    const MAX: u64 = usize::MAX as u64;
}

impl<T: Count> Visitor<'_> for CountVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number (e.g. 1024)")
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<T, E> {
        Self::fit(number)
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<T, E> {
        match u64::try_from(number) {
            Ok(number) => Self::fit(number),
            Err(_) => Err(E::custom(format!(
                "{number} is not a count (expected a whole number, 0 or more)"
            ))),
        }
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<T, E> {
        Err(E::custom(format!(
            "{number} is not a whole number (expected e.g. 1024)"
        )))
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<T, E> {
        Err(E::custom(format!(
            "{flag} is not a whole number (expected e.g. 1024)"
        )))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        match text.trim().parse::<u64>() {
            Ok(number) => Self::fit(number),
            Err(_) => Err(E::custom(format!(
                "{text:?} is not a whole number (expected e.g. 1024)"
            ))),
        }
    }
}

/// A yes/no flag: a TOML boolean, or `"true"`/`"false"` (how an environment variable spells it).
pub(crate) fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    deserializer.deserialize_any(FlagVisitor)
}

struct FlagVisitor;

impl Visitor<'_> for FlagVisitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("true or false")
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<bool, E> {
        Ok(flag)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<bool, E> {
        keyword(text, &[("true", true), ("false", false)])
            .map_err(|_| E::custom(format!("{text:?} is not a flag (expected true or false)")))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<bool, E> {
        Err(E::custom(format!(
            "{number} is not a flag (expected true or false)"
        )))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<bool, E> {
        Err(E::custom(format!(
            "{number} is not a flag (expected true or false)"
        )))
    }
}

/// A list of strings: a TOML array, or one string of comma-separated items (how an environment
/// variable spells a list). Items are trimmed; empty items are dropped, so `""` is an empty list.
pub(crate) fn string_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    deserializer.deserialize_any(StringListVisitor)
}

struct StringListVisitor;

impl<'de> Visitor<'de> for StringListVisitor {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of strings, or one comma-separated string")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<String>, E> {
        Ok(text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        Ok(items)
    }
}

/// A duration written with a unit, as humantime reads it: `"25s"`, `"500ms"`, `"1m 30s"`.
/// A bare number is refused: `25` could mean seconds or milliseconds.
pub(crate) mod duration {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::Serializer;

    use super::DURATION_EXAMPLE;

    pub(crate) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_duration(*value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }

    struct DurationVisitor;

    impl DurationVisitor {
        fn bare_number<E: de::Error>(number: impl fmt::Display) -> E {
            E::custom(format!(
                "{number} is not a duration (expected a unit, {DURATION_EXAMPLE})"
            ))
        }
    }

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a duration ({DURATION_EXAMPLE})")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            humantime::parse_duration(text.trim()).map_err(|_| {
                E::custom(format!(
                    "{text:?} is not a duration (expected {DURATION_EXAMPLE})"
                ))
            })
        }

        fn visit_u64<E: de::Error>(self, number: u64) -> Result<Duration, E> {
            Err(Self::bare_number(number))
        }

        fn visit_i64<E: de::Error>(self, number: i64) -> Result<Duration, E> {
            Err(Self::bare_number(number))
        }

        fn visit_f64<E: de::Error>(self, number: f64) -> Result<Duration, E> {
            Err(Self::bare_number(number))
        }
    }
}

/// An optional file path where the empty string means "not set": TOML has no null, and an
/// environment variable can only be empty.
pub(crate) mod optional_path {
    use std::fmt;
    use std::path::{Path, PathBuf};

    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::Serializer;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<PathBuf>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let path = value.as_deref().unwrap_or(Path::new(""));
        serializer.collect_str(&path.display())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<PathBuf>, D::Error> {
        deserializer.deserialize_any(OptionalPathVisitor)
    }

    struct OptionalPathVisitor;

    impl Visitor<'_> for OptionalPathVisitor {
        type Value = Option<PathBuf>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a file path, or \"\" for none")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Option<PathBuf>, E> {
            Ok((!text.is_empty()).then(|| PathBuf::from(text)))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Option<PathBuf>, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Option<PathBuf>, E> {
            Ok(None)
        }
    }
}
