//! A plain message's current state: its text as last edited, its files, when it was last
//! edited, whether it was deleted, and its reactions. The stores keep it up to date as the
//! message's changes are stored, so an answer serves it as it is.

use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::protocol::UserId;

/// A plain message as it stands now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// As last edited; empty once deleted (erased, not kept).
    pub text: Arc<str>,
    /// The files it carries; `None` for none, and once deleted.
    pub files: Option<Files>,
    /// What its changes made of it; `None` while nothing did (nearly every message), so that
    /// a message nobody changed carries one pointer for it.
    pub changed: Option<Box<Changed>>,
}

/// What changes made of a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changed {
    /// The `ts` of its last edit.
    pub edited: Option<u64>,
    /// Deleted by its author: no text, no files, no reactions.
    pub deleted: bool,
    /// In the order the emoji were first added; an emoji nobody holds any more is gone.
    pub reactions: Vec<Reaction>,
}

impl Message {
    /// A message just sent: this text, nothing else.
    pub fn new(text: Arc<str>) -> Self {
        Self {
            text,
            ..Self::default()
        }
    }

    /// This text and files, with what changes made of it (nothing kept when they left it as
    /// sent).
    pub fn with(text: Arc<str>, files: Option<Files>, changed: Changed) -> Self {
        Self {
            text,
            files,
            changed: (changed != Changed::default()).then(|| Box::new(changed)),
        }
    }

    /// The `ts` of its last edit.
    pub fn edited(&self) -> Option<u64> {
        self.changed.as_ref().and_then(|c| c.edited)
    }

    /// Whether its author deleted it.
    pub fn is_deleted(&self) -> bool {
        self.changed.as_ref().is_some_and(|c| c.deleted)
    }

    /// Its reactions, in the order the emoji were first added.
    pub fn reactions(&self) -> &[Reaction] {
        self.changed.as_ref().map_or(&[], |c| &c.reactions)
    }

    /// What changes made of it (the default when nothing did).
    pub fn changes(&self) -> Changed {
        self.changed.as_deref().cloned().unwrap_or_default()
    }
}

/// One emoji on a message and who put it there, in the order they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Reaction {
    pub emoji: Arc<str>,
    pub users: Vec<UserId>,
}

/// A message's files: their JSON array (`[{"id","name","size","type","url",…}]`), encoded
/// once when the message was sent and written into every answer as it is.
#[derive(Debug, Clone)]
pub struct Files(Arc<RawValue>);

impl Files {
    /// The files of this JSON text; an error when it is not valid JSON.
    pub fn parse(json: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(json).map(|raw| Self(Arc::from(raw)))
    }

    /// The JSON array, as encoded.
    pub fn json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Files {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Eq for Files {}

impl Serialize for Files {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}
