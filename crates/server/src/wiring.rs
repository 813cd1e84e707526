use chat_config::{AuthMode, BrokerKind, HistoryBackend, Settings};
use chat_http::HttpConfig;
use chat_ws::{
    client::ClientConfig,
    history::{History, MemoryHistory, Retention},
    hub::HubConfig,
};

/// A setting names a feature this build does not have yet: a configuration error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{key}: {value:?} is not available yet in this version (expected {expected})")]
pub struct Unavailable {
    pub key: &'static str,
    pub value: &'static str,
    pub expected: &'static str,
}

impl Unavailable {
    /// Refuses settings that ask for what is not built yet, naming the key.
    pub fn check(settings: &Settings) -> Result<(), Self> {
        check_available(settings)
    }
}

pub(crate) fn check_available(settings: &Settings) -> Result<(), Unavailable> {
    if settings.history.backend == HistoryBackend::Sqlite {
        return Err(Unavailable {
            key: "history.backend",
            value: "sqlite",
            expected: "\"memory\"",
        });
    }
    if settings.broker.kind == BrokerKind::Redis {
        return Err(Unavailable {
            key: "broker.kind",
            value: "redis",
            expected: "\"local\"",
        });
    }
    if settings.auth.mode == AuthMode::Jwt {
        return Err(Unavailable {
            key: "auth.mode",
            value: "jwt",
            expected: "\"none\"",
        });
    }
    if settings.server.tls_cert.is_some() || settings.server.tls_key.is_some() {
        return Err(Unavailable {
            key: "server.tls_cert",
            value: "(set)",
            expected: "empty: terminate TLS in a reverse proxy for now",
        });
    }
    Ok(())
}

pub(crate) fn history(settings: &Settings) -> Result<Box<dyn History>, Unavailable> {
    check_available(settings)?;
    let retention = Retention {
        max_per_room: settings.history.max_per_room,
        max_age: (!settings.history.max_age.is_zero()).then_some(settings.history.max_age),
    };
    Ok(Box::new(MemoryHistory::new(retention)))
}

pub(crate) fn hub_config(settings: &Settings) -> HubConfig {
    HubConfig {
        on_join: settings.history.on_join,
    }
}

pub(crate) fn http_config(settings: &Settings) -> HttpConfig {
    HttpConfig {
        web_dir: settings.server.web_dir.clone(),
        allowed_origins: settings.server.allowed_origins.clone(),
        max_connections: settings.server.max_connections,
    }
}

pub(crate) fn client_config(settings: &Settings) -> ClientConfig {
    ClientConfig {
        max_text_bytes: settings.ws.max_text_bytes,
        max_rooms: settings.ws.max_rooms,
        outbound_queue: settings.ws.outbound_queue,
        ping_interval: settings.ws.ping_interval,
        idle_timeout: settings.ws.idle_timeout,
        messages_per_sec: settings.limits.messages_per_sec,
        burst: settings.limits.burst,
        max_frame_bytes: settings.ws.max_frame_bytes,
        server_name: format!("chat-server/{}", env!("CARGO_PKG_VERSION")),
    }
}
