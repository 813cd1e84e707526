//! A connection's requests: each becomes a broker job or an answer.

use std::sync::Arc;

use super::Hub;
use crate::{
    broker::Job,
    conn::ConnId,
    log::{Draft, EventKind},
    protocol::{ErrorCode, Request, RoomName, SendFiles, ServerFrame, User},
};

impl Hub {
    pub(super) fn request(&mut self, conn: ConnId, request: Request, reference: Option<Arc<str>>) {
        // A connection being closed (evicted, timed out) asks for nothing more.
        if self.conns.is_closing(conn) {
            return;
        }
        let Some(connection) = self.conns.get_mut(conn) else {
            return;
        };
        match request {
            Request::Join { room, since } => {
                if !connection.is_in(&room) {
                    if connection.rooms.len() >= self.max_rooms {
                        let message =
                            format!("a connection may be in at most {} rooms", self.max_rooms);
                        return self.refuse(conn, ErrorCode::TooManyRooms, &message, reference);
                    }
                    connection.rooms.push((room.clone(), false));
                }
                *self.joining.entry(room.clone()).or_default() += 1;
                self.submit(Job::Catchup {
                    origin: conn,
                    room,
                    since,
                    reference,
                });
            }
            Request::Leave { room } => {
                let user = connection.user.clone();
                let was_member = connection.forget(&room) == Some(true);
                // Leaving a room one is not in (or only joining) already holds: say so.
                let mut rest = match self.leave_room(&room, conn, &user).filter(|_| was_member) {
                    Some(member) => member.cork,
                    None => Vec::new(),
                };
                rest.push(ServerFrame::Left { room: &room }.encode());
                self.deliver(conn, rest);
            }
            Request::Send {
                room,
                text,
                id,
                files,
            } => {
                if !connection.is_in(&room) {
                    return self.refuse(conn, ErrorCode::NotJoined, &not_joined(&room), reference);
                }
                let mut draft = Draft::message(room, connection.user.clone(), text, id);
                // The reader resolved the files before handing the send over.
                if let Some(SendFiles::Attached(files)) = files {
                    draft = draft.with_files(files);
                }
                self.submit(Job::Append {
                    origin: conn,
                    draft,
                });
            }
            Request::Edit {
                room,
                target,
                text,
                id,
            } => {
                let kind = EventKind::Edit {
                    target,
                    text: Some(text),
                };
                self.change(conn, (room, kind, id), reference);
            }
            Request::Delete { room, target, id } => {
                let delete = EventKind::Delete {
                    target,
                    released: None,
                };
                self.change(conn, (room, delete, id), reference);
            }
            Request::React {
                room,
                target,
                emoji,
                active,
                id,
            } => {
                let kind = EventKind::React {
                    target,
                    emoji,
                    active,
                };
                self.change(conn, (room, kind, id), reference);
            }
            Request::Typing { room, active } => {
                if !connection.is_in(&room) {
                    return self.refuse(conn, ErrorCode::NotJoined, &not_joined(&room), reference);
                }
                let user = connection.user.clone();
                self.tell_typing(&room, &user, active);
                self.submit(Job::Typing { room, user, active });
            }
            Request::History {
                room,
                before,
                limit,
            } => {
                if !connection.is_in(&room) {
                    return self.refuse(conn, ErrorCode::NotJoined, &not_joined(&room), reference);
                }
                self.submit(Job::Page {
                    origin: conn,
                    room,
                    before,
                    limit,
                    reference,
                });
            }
        }
    }

    /// A change to a message: a member's, stored like a send; the store checks its target.
    fn change(
        &mut self,
        conn: ConnId,
        (room, kind, id): (RoomName, EventKind, Option<Arc<str>>),
        reference: Option<Arc<str>>,
    ) {
        let Some(connection) = self.conns.get_mut(conn) else {
            return;
        };
        if !connection.is_in(&room) {
            return self.refuse(conn, ErrorCode::NotJoined, &not_joined(&room), reference);
        }
        let draft = Draft::new(room, connection.user.clone(), id, kind);
        self.submit(Job::Append {
            origin: conn,
            draft,
        });
    }

    /// Tells the room's other members that `user` is typing (or stopped).
    pub(super) fn tell_typing(&mut self, room: &RoomName, user: &User, active: bool) {
        let frame = ServerFrame::Typing { room, user, active }.encode();
        self.rooms.broadcast_about(room, frame, user);
    }
}

fn not_joined(room: &RoomName) -> String {
    format!("join room {room} first")
}
