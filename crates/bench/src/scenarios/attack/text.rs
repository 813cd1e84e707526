//! The text form of an attack's report.

use super::AttackReport;
use crate::report;
use crate::scenarios::watch::RssSpan;

fn opt_mib(b: Option<u64>) -> String {
    b.map_or_else(|| "-".to_owned(), report::mib)
}

fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| "-".to_owned(), |p| format!("{p:.1}%"))
}

fn span(s: &RssSpan) -> String {
    format!(
        "{} -> peak {} -> {}",
        opt_mib(s.start_bytes),
        opt_mib(s.peak_bytes),
        opt_mib(s.end_bytes)
    )
}

pub(super) fn format_attack(r: &AttackReport) -> String {
    let mut s = format!("attack: {}\n", r.url);
    if let Some(f) = &r.flood {
        s.push_str(&format!(
            "flood       room of {} messages x {} control chars filled in {:.1} s{}\n\
             attacker    wrote {} of {} requests ({} history limit {}, {} join since 0) in {:.2} s{}\n\
             fate        {}; evicted {}; read {} frames, {} before the end\n\
             server RSS  before fill {}, after fill {}; attack {}\n\
             calm room   p50 {} p99 {} max {}, {} of {} deliveries lost, events {}; CPU wait: \
             server {}, generator {}\n",
            report::group(f.messages),
            f.text_bytes,
            f.fill_secs,
            if f.fill_errors.is_empty() {
                String::new()
            } else {
                format!(" (refused: {})", report::events(&f.fill_errors))
            },
            report::group(f.written),
            report::group(f.history_requests + f.since_joins),
            report::group(f.history_requests),
            f.history_limit,
            f.since_joins,
            f.write_secs,
            f.write_stopped
                .as_ref()
                .map_or_else(String::new, |w| format!(" ({w})")),
            f.ended,
            f.evicted_after_secs.map_or_else(
                || "never".to_owned(),
                |t| format!("{t:.2} s after its first request")
            ),
            report::group(f.frames_read),
            report::mib(f.bytes_read),
            opt_mib(f.rss_before_fill_bytes),
            opt_mib(f.rss_after_fill_bytes),
            span(&f.rss_attack),
            report::ms(f.calm.latency.p50_us),
            report::ms(f.calm.latency.p99_us),
            report::ms(f.calm.latency.max_us),
            report::group(f.calm.lost),
            report::group(f.calm.expected_deliveries),
            report::events(&f.calm.events),
            pct(f.calm.server.as_ref().and_then(|u| u.cpu_wait_pct)),
            pct(f.calm.generator_cpu_wait_pct),
        ));
    }
    if let Some(x) = &r.rooms {
        s.push_str(&format!(
            "rooms       {} distinct rooms joined and left in {:.1} s: {}{}\n\
             server RSS  {}, settled {}; fds {} -> {}\n",
            report::group(x.rooms),
            x.answers.secs,
            report::events(&x.answers.by_kind),
            x.answers
                .stopped
                .as_ref()
                .map_or_else(String::new, |w| format!(" (stopped: {w})")),
            span(&x.rss),
            opt_mib(x.rss_settled_bytes),
            x.fds_before
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            x.fds_after
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
        ));
    }
    if let Some(p) = &r.presence {
        let each: Vec<String> = p
            .per_member
            .iter()
            .map(|m| {
                format!(
                    "{}+{}{}",
                    m.joins,
                    m.leaves,
                    m.ended
                        .as_ref()
                        .map_or_else(String::new, |e| format!(" ({e})"))
                )
            })
            .collect();
        s.push_str(&format!(
            "presence    {} toggles in {:.1} s: {}{}\n\
             members     presence join+leave received: {}\n\
             server RSS  {}\n",
            report::group(p.toggles),
            p.answers.secs,
            report::events(&p.answers.by_kind),
            p.answers
                .stopped
                .as_ref()
                .map_or_else(String::new, |w| format!(" (stopped: {w})")),
            each.join(", "),
            span(&p.rss),
        ));
    }
    s
}
