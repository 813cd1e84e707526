use std::sync::atomic::{AtomicU64, Ordering};

use chat_ws::protocol::{User, display_name};

/// Numbers for `guest-<n>` names.
static NEXT_GUEST: AtomicU64 = AtomicU64::new(1);

/// The user of a new connection without auth: a fresh random id and the requested name when
/// it is valid, else `guest-<n>`.
pub(crate) fn anonymous_user(query: Option<&str>) -> User {
    let requested = query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(key, _)| key == "name")
            .map(|(_, value)| value.into_owned())
    });
    let name = display_name(requested.as_deref())
        .unwrap_or_else(|| format!("guest-{}", NEXT_GUEST.fetch_add(1, Ordering::Relaxed)));
    // 48 random bits: unique enough that two live connections never share an id.
    let id = format!("u_{:012x}", rand::random::<u64>() >> 16);
    User::new(id, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_name_from_the_query() {
        let user = anonymous_user(Some("name=Zo%C3%AB%20B&x=1"));
        assert_eq!(&*user.name, "Zoë B");
        assert!(user.id.starts_with("u_") && user.id.len() == 14);
    }

    #[test]
    fn falls_back_to_a_guest_name() {
        assert!(anonymous_user(None).name.starts_with("guest-"));
        assert!(anonymous_user(Some("name=")).name.starts_with("guest-"));
        let long = format!("name={}", "a".repeat(40));
        assert!(anonymous_user(Some(&long)).name.starts_with("guest-"));
        // A right-to-left override, percent-encoded as a browser sends it.
        assert!(
            anonymous_user(Some("name=%E2%80%AEevil"))
                .name
                .starts_with("guest-")
        );
    }

    #[test]
    fn ids_differ() {
        assert_ne!(anonymous_user(None).id, anonymous_user(None).id);
    }
}
