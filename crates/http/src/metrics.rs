//! What the HTTP side counts, for `/metrics`: failed TLS handshakes, refused sign-ins by
//! reason, and server API requests by route and status. Registered once, like the core's.

use metrics::{Counter, Recorder, counter, describe_counter, with_local_recorder};

use crate::{api::Route, auth::AuthFailure};

/// Statuses the server API answers with (anything else is counted as `other`).
const API_STATUSES: [u16; 9] = [200, 201, 400, 401, 404, 405, 413, 500, 503];

/// Handles to the HTTP side's metrics.
#[derive(Clone)]
pub struct HttpMetrics {
    /// TLS handshakes that failed or timed out (plain HTTP to a TLS port among them).
    pub tls_handshake_failures: Counter,
    auth_failures: Vec<Counter>,
    /// By route, then by status (the last one: any other status).
    api_requests: Vec<Vec<Counter>>,
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpMetrics")
    }
}

impl HttpMetrics {
    /// Handles that count nothing.
    pub fn noop() -> Self {
        Self {
            tls_handshake_failures: Counter::noop(),
            auth_failures: AuthFailure::ALL.iter().map(|_| Counter::noop()).collect(),
            api_requests: Route::ALL
                .iter()
                .map(|_| (0..=API_STATUSES.len()).map(|_| Counter::noop()).collect())
                .collect(),
        }
    }

    /// Registers every metric with `recorder`.
    pub fn register<R: Recorder>(recorder: &R) -> Self {
        with_local_recorder(recorder, || {
            describe_counter!(
                "chat_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out"
            );
            describe_counter!(
                "chat_auth_failures_total",
                "WebSocket upgrades refused with 401, by reason"
            );
            describe_counter!(
                "chat_api_requests_total",
                "Server API requests, by route and status"
            );
            Self {
                tls_handshake_failures: counter!("chat_tls_handshake_failures_total"),
                auth_failures: AuthFailure::ALL
                    .iter()
                    .map(|reason| counter!("chat_auth_failures_total", "reason" => reason.as_str()))
                    .collect(),
                api_requests: Route::ALL
                    .iter()
                    .map(|route| {
                        let statuses = API_STATUSES.iter().map(|s| s.to_string());
                        statuses
                            .chain(["other".to_owned()])
                            .map(|status| {
                                counter!("chat_api_requests_total", "route" => route.as_str(), "status" => status)
                            })
                            .collect()
                    })
                    .collect(),
            }
        })
    }

    /// Counts an upgrade refused for `reason`.
    pub(crate) fn auth_failure(&self, reason: AuthFailure) {
        self.auth_failures[reason as usize].increment(1);
    }

    /// Counts an API request to `route` answered with `status`.
    pub(crate) fn api_request(&self, route: Route, status: u16) {
        let column = API_STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(API_STATUSES.len());
        self.api_requests[route as usize][column].increment(1);
    }
}
