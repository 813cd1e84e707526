//! Process limits. Tens of thousands of sockets need more file descriptors than the usual
//! soft limit of 1024, so the generator raises its soft `RLIMIT_NOFILE` to the hard limit.

use rustix::process::{Resource, getrlimit, setrlimit};

/// Raises the soft limit on open files to the hard limit and returns the new soft limit
/// (`None` means unlimited).
pub fn raise_nofile_limit() -> std::io::Result<Option<u64>> {
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        setrlimit(Resource::Nofile, limit)?;
    }
    Ok(getrlimit(Resource::Nofile).current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_limit_reaches_the_hard_limit() {
        let raised = raise_nofile_limit().expect("raising to the hard limit is always allowed");
        assert_eq!(raised, getrlimit(Resource::Nofile).maximum);
    }
}
