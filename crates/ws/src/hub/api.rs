//! The hub's side of the server API: requests of the operator's backend answered from the
//! hub's own state (members, rooms, connections) or through the broker like a member's
//! (posts, pages), with the answers still waiting for storage kept here.
//!
//! A post or page goes to the broker under an origin of its own, from a range no connection
//! uses, so its outcome is recognized; a stored post is recognized by what it says (room,
//! author, resend id or text), since a stored event names no origin.

use std::sync::Arc;

use foldhash::{HashMap, HashMapExt};
use serde::Serialize;
use tokio::sync::oneshot;

use super::{connections::Connections, rooms::Rooms};
use crate::{
    api::{ApiAnswer, ApiError, ApiRequest},
    broker::{Broker, Job, Origin, Outcome, Outcomes},
    log::{Draft, Event},
    protocol::{ErrorCode, Frame, RoomName, UserId, history_frame},
};

/// Where the origins of API jobs start: far above any connection number.
const FIRST_ORIGIN: Origin = 1 << 62;

/// Where an answer goes.
type Reply = oneshot::Sender<ApiAnswer>;

/// A post waiting to be stored.
struct Post {
    origin: Origin,
    room: RoomName,
    author: UserId,
    id: Option<Arc<str>>,
    text: Arc<str>,
    reply: Reply,
}

impl Post {
    /// Whether `event` is this post stored (or, for a resend id, the event it repeats).
    fn is(&self, event: &Event) -> bool {
        event.room == self.room
            && event.from.id == self.author
            && match &self.id {
                Some(id) => event.client_id.as_ref() == Some(id),
                None => event.client_id.is_none() && event.text() == Some(&self.text),
            }
    }
}

/// The API requests waiting for storage.
pub(super) struct Api {
    next_origin: Origin,
    posts: Vec<Post>,
    pages: HashMap<Origin, Reply>,
}

/// What the hub lends the API to answer a request.
pub(super) struct Parts<'a> {
    pub(super) broker: &'a mut dyn Broker,
    pub(super) outcomes: &'a mut Outcomes,
    pub(super) rooms: &'a mut Rooms,
    pub(super) conns: &'a mut Connections,
}

impl Api {
    pub(super) fn new() -> Self {
        Self {
            next_origin: FIRST_ORIGIN,
            posts: Vec::new(),
            pages: HashMap::new(),
        }
    }

    /// Whether some post or page waits for storage.
    pub(super) fn is_waiting(&self) -> bool {
        !self.posts.is_empty() || !self.pages.is_empty()
    }

    /// Answers `request` now, or submits its job and keeps `reply` for the outcome.
    pub(super) fn request(&mut self, request: ApiRequest, reply: Reply, parts: Parts<'_>) {
        // Requests whose asker gave up no longer wait for anything.
        self.posts.retain(|post| !post.reply.is_closed());
        self.pages.retain(|_, reply| !reply.is_closed());
        let Parts {
            broker,
            outcomes,
            rooms,
            conns,
        } = parts;
        match request {
            ApiRequest::Post {
                room,
                from,
                text,
                id,
            } => {
                let origin = self.origin();
                self.posts.push(Post {
                    origin,
                    room: room.clone(),
                    author: from.id.clone(),
                    id: id.clone(),
                    text: text.clone(),
                    reply,
                });
                let draft = Draft::message(room.clone(), from, text, id);
                broker.submit(Job::Append { origin, draft }, outcomes);
                release_if_unused(broker, rooms, &room);
            }
            ApiRequest::Messages {
                room,
                before,
                limit,
            } => {
                let origin = self.origin();
                self.pages.insert(origin, reply);
                let job = Job::Page {
                    origin,
                    room: room.clone(),
                    before,
                    limit,
                    reference: None,
                };
                broker.submit(job, outcomes);
                release_if_unused(broker, rooms, &room);
            }
            ApiRequest::Members { room } => {
                let members = rooms.member_list(&room, conns).unwrap_or_default();
                let _ = reply.send(Ok(format!(r#"{{"members":[{members}]}}"#)));
            }
            ApiRequest::Rooms => {
                #[derive(Serialize)]
                struct Listed<'a> {
                    room: &'a RoomName,
                    seq: u64,
                    members: usize,
                }
                #[derive(Serialize)]
                struct Listing<'a> {
                    rooms: Vec<Listed<'a>>,
                }
                let mut listed: Vec<_> = rooms
                    .list()
                    .map(|(room, seq, members)| Listed { room, seq, members })
                    .collect();
                listed.sort_unstable_by(|a, b| a.room.cmp(b.room));
                let json = serde_json::to_string(&Listing { rooms: listed })
                    .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()));
                let _ = reply.send(json);
            }
            ApiRequest::Disconnect { user } => {
                let mut closed = 0;
                for conn in conns.of_user(&user) {
                    if !conns.is_closing(conn) {
                        conns.close(conn, Frame::close(4003, "disconnected by the server"));
                        closed += 1;
                    }
                }
                let _ = reply.send(Ok(format!(r#"{{"closed":{closed}}}"#)));
            }
        }
    }

    /// An event was stored: the post it is answers with it.
    pub(super) fn stored(&mut self, event: &Event) {
        if let Some(at) = self.posts.iter().position(|post| post.is(event)) {
            let post = self.posts.remove(at);
            let _ = post.reply.send(Ok(event.encode().as_str().to_owned()));
        }
    }

    /// Takes the outcomes that answer API jobs; gives back the others.
    pub(super) fn outcome(&mut self, outcome: Outcome) -> Option<Outcome> {
        match outcome {
            Outcome::Resent { origin, event } if origin >= FIRST_ORIGIN => {
                if let Some(at) = self.posts.iter().position(|post| post.origin == origin) {
                    let post = self.posts.remove(at);
                    let _ = post.reply.send(Ok(event.encode().as_str().to_owned()));
                }
                None
            }
            Outcome::Page {
                origin,
                room,
                messages,
                has_more,
            } if origin >= FIRST_ORIGIN => {
                let reply = self.pages.remove(&origin)?;
                let frame = history_frame(&room, messages, has_more);
                let _ = reply.send(Ok(frame.as_str().to_owned()));
                None
            }
            Outcome::Failed {
                origin, error, job, ..
            } if origin >= FIRST_ORIGIN => {
                tracing::error!(origin, error = %error, ?job, "history store failed for an API request");
                let failed = Err(ApiError::new(
                    ErrorCode::Internal,
                    "the history store failed; try again (resending with the same id is safe)",
                ));
                if let Some(reply) = self.pages.remove(&origin) {
                    let _ = reply.send(failed);
                } else if let Some(at) = self.posts.iter().position(|post| post.origin == origin) {
                    let _ = self.posts.remove(at).reply.send(failed);
                }
                None
            }
            other => Some(other),
        }
    }

    fn origin(&mut self) -> Origin {
        self.next_origin += 1;
        self.next_origin
    }
}

/// A room nobody is in may be released by the broker once this job is done, as when its last
/// member leaves.
fn release_if_unused(broker: &mut dyn Broker, rooms: &Rooms, room: &RoomName) {
    if !rooms.exists(room) {
        broker.forget(room);
    }
}
