//! The cap on WebSockets from one peer address (`server.max_connections_per_ip`).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

/// Open WebSockets per peer address, each address capped.
///
/// A plain `Mutex<HashMap>`: it is locked for one map operation when a WebSocket opens and
/// once when it closes, never across an await and never per message, so it costs nothing
/// next to the TCP and HTTP handshakes around it; a concurrent map would add a dependency for
/// no gain. An address leaves the map when its last connection closes, so the map never holds
/// more entries than there are open connections.
#[derive(Debug)]
pub(crate) struct PerIp {
    /// Most open connections from one address; 0 means no cap, and nothing is counted.
    cap: usize,
    /// Addresses with at least one open connection, and how many.
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection counted for its address; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct IpSlot {
    counted: Option<(Arc<PerIp>, IpAddr)>,
}

impl PerIp {
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `ip`, or `None` when `ip` has `cap` open already.
    pub(crate) fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        if self.cap == 0 {
            return Some(IpSlot { counted: None });
        }
        // An IPv4 peer of a dual-stack socket shows as ::ffff:a.b.c.d: the same address.
        let ip = ip.to_canonical();
        let mut open = self.lock();
        let count = open.entry(ip).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            counted: Some((self.clone(), ip)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Nothing can panic while the lock is held, so even a poisoned map is consistent.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let Some((per_ip, ip)) = self.counted.take() else {
            return;
        };
        let mut open = per_ip.lock();
        match open.get_mut(&ip) {
            Some(count) if *count > 1 => *count -= 1,
            Some(_) => {
                open.remove(&ip);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn each_address_is_capped_on_its_own_and_forgotten_at_zero() {
        let per_ip = PerIp::new(2);
        let a1 = per_ip.try_acquire(ip("192.0.2.1")).expect("first from a");
        let a2 = per_ip.try_acquire(ip("192.0.2.1")).expect("second from a");
        assert!(
            per_ip.try_acquire(ip("192.0.2.1")).is_none(),
            "third from a"
        );
        let b = per_ip
            .try_acquire(ip("192.0.2.2"))
            .expect("another address");
        assert_eq!(per_ip.lock().len(), 2);

        drop(a1);
        let a3 = per_ip.try_acquire(ip("192.0.2.1")).expect("a freed slot");
        drop((a2, a3, b));
        assert!(per_ip.lock().is_empty(), "{:?}", per_ip.lock());
    }

    #[test]
    fn an_ipv4_mapped_address_is_the_ipv4_address() {
        let per_ip = PerIp::new(1);
        let _v4 = per_ip.try_acquire(ip("192.0.2.1")).expect("first");
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert!(per_ip.try_acquire(mapped).is_none());
        assert!(
            per_ip
                .try_acquire(IpAddr::V6(Ipv6Addr::LOCALHOST))
                .is_some()
        );
    }

    #[test]
    fn zero_counts_nothing() {
        let per_ip = PerIp::new(0);
        let slots: Vec<IpSlot> = (0..10)
            .map(|_| per_ip.try_acquire(ip("192.0.2.1")).expect("no cap"))
            .collect();
        assert!(per_ip.lock().is_empty());
        drop(slots);
    }
}
