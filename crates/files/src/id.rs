use std::fmt;

/// A file's id: `f_` and 32 lowercase hex digits, 128 random bits, so ids cannot be guessed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(String);

/// `f_` and 128 bits in hex.
const HEX_DIGITS: usize = 32;

impl FileId {
    /// A fresh random id.
    pub fn random() -> Self {
        let bits: u128 = rand::random();
        Self(format!("f_{bits:032x}"))
    }

    /// `text` as an id, if it has an id's shape (anything else cannot name a stored file, and
    /// never reaches a storage key).
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix("f_")?;
        let valid = hex.len() == HEX_DIGITS
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The storage key of one of the file's objects.
    pub(crate) fn key(&self, object: &str) -> String {
        format!("{}/{object}", self.0)
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_parse_and_differ() {
        let (a, b) = (FileId::random(), FileId::random());
        assert_ne!(a, b);
        assert_eq!(FileId::parse(a.as_str()), Some(a));
        assert_eq!(FileId::parse("f_../../etc"), None);
        assert_eq!(FileId::parse("f_0123456789ABCDEF0123456789abcdef"), None);
        assert_eq!(FileId::parse(""), None);
    }
}
