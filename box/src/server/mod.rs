//! The listener and our own accept loop around hyper.
//!
//! `axum::serve` sets no timer, so one slow client could hold a connection forever. Here
//! every connection gets: a header read timeout (which also bounds keep-alive idle time),
//! a permit from a fixed connection cap and a smaller one per client address (over
//! either: a quick 503 and close, so one machine cannot take every connection), a request
//! count after which keep-alive ends, a hard body size limit and a handler timeout.
//! Shutdown stops accepting, lets requests in flight finish for a grace period, then
//! returns.

pub mod captive;
pub mod headers;
pub mod routes;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::config::Limits;
use crate::metrics::Metrics;
use crate::packs::serve::Serving;
use crate::respond::plain;

/// Where a request came in, added to every request's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

/// Open connections per client address, bounded.
struct PerClient {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted for its client; dropping it gives the place back.
struct ClientSlot {
    table: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    fn take(table: &Arc<PerClient>, ip: IpAddr) -> Option<ClientSlot> {
        let mut open = table.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= table.max {
            return None;
        }
        *n += 1;
        Some(ClientSlot { table: table.clone(), ip })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                // The map holds only clients with open connections: bounded by the cap.
                open.remove(&self.ip);
            }
        }
    }
}

/// Largest request head (start line and headers) accepted.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Read buffer per connection: bounds memory per idle connection.
const MAX_BUF_BYTES: usize = 64 * 1024;

/// Serves `router` on `listener` until `shutdown` completes, then drains connections.
/// With `packs`, `GET` requests for pack files are answered without the router (see
/// `Serving::direct`); the router must then be built around the same `Serving`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    packs: Option<Arc<Serving>>,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let per_client = Arc::new(PerClient { max: limits.max_connections_per_client, open: Mutex::new(HashMap::new()) });
    let limits = Arc::new(limits);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_BUF_BYTES)
        // hyper's default header count (100) is parsed in a stack array; setting any
        // other count makes it fill a vector per request. The bytes are bounded anyway.
        .max_header_size(MAX_HEADER_BYTES);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: wait a
                    // little instead of spinning, and keep serving the others.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The client's share first: a client over its share does not use up a global permit.
        let Some(slot) = PerClient::take(&per_client, peer.ip()) else {
            metrics.connections_refused.fetch_add(1, Relaxed);
            tokio::spawn(refuse(stream));
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.connections_refused.fetch_add(1, Relaxed);
            tokio::spawn(refuse(stream));
            continue;
        };
        metrics.connections_accepted.fetch_add(1, Relaxed);
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(peer);
        let info = ConnInfo { peer, local };
        let service = ConnService {
            router: router.clone(),
            packs: packs.clone(),
            limits: limits.clone(),
            metrics: metrics.clone(),
            info,
            served: Arc::new(AtomicU32::new(0)),
        };
        let conn = builder
            .serve_connection(TokioIo::new(stream), hyper::service::service_fn(move |req| service.clone().call(req)));
        let conn = graceful.watch(conn);
        let metrics = metrics.clone();
        tokio::spawn(async move {
            metrics.connections_open.fetch_add(1, Relaxed);
            if let Err(e) = conn.await {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
            metrics.connections_open.fetch_sub(1, Relaxed);
            drop(permit);
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!(open = graceful.count(), "shutting down: no new connections, finishing requests in flight");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(limits.shutdown_grace) => tracing::warn!("connections still open after the grace period; closing them"),
    }
    Ok(())
}

/// Whether the request's `Host` names this box: its host name, `NAME.local`, `localhost`,
/// a loopback address or the address the connection came in on (any port).
fn own_host(headers: &http::HeaderMap, hostname: &str, local: IpAddr) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let host = host.trim().to_ascii_lowercase();
    // Strip the port: `[v6]:port`, `v4:port` or `name:port`.
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':')
            .map_or(host.as_str(), |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { "" })
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if let Ok(ip) = name.parse::<IpAddr>() {
        return ip.is_loopback() || ip == local || ip.to_canonical() == local.to_canonical();
    }
    let own = hostname.to_ascii_lowercase();
    name == own || name.strip_suffix(".local") == Some(own.as_str()) || name == "localhost"
}

/// Answers a connection over the cap with a short 503 and closes it, without reading.
async fn refuse(mut stream: TcpStream) {
    let body = "La boîte est occupée, réessayez. Box busy: retry.\n";
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let msg = [head.as_bytes(), body.as_bytes()].concat();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), stream.write_all(&msg)).await;
}

/// One connection's view of the router, with the limits applied per request.
#[derive(Clone)]
struct ConnService {
    router: Router,
    packs: Option<Arc<Serving>>,
    limits: Arc<Limits>,
    metrics: Arc<Metrics>,
    info: ConnInfo,
    served: Arc<AtomicU32>,
}

impl ConnService {
    async fn call(self, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let n = self.served.fetch_add(1, Relaxed) + 1;
        // Access log at debug level (PREAU_LOG=debug): off by default, a Pi's SD card
        // should not take a line per pupil click.
        let access = tracing::enabled!(tracing::Level::DEBUG)
            .then(|| (req.method().clone(), req.uri().path().to_string(), std::time::Instant::now()));
        let declared =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let mut resp = if changes_state && !own_host(req.headers(), &self.limits.hostname, self.info.local.ip()) {
            // DNS rebinding: a page on evil.example whose name now points at the box would
            // pass an Origin-equals-Host check. State changes answer only the box's names.
            plain(
                StatusCode::MISDIRECTED_REQUEST,
                "Nom d'hôte inconnu de cette boîte. Unknown host name for this box.\n",
            )
        } else if declared.is_some_and(|len| len > self.limits.max_body_bytes) {
            self.metrics.bodies_too_large.fetch_add(1, Relaxed);
            plain(StatusCode::PAYLOAD_TOO_LARGE, "Fichier trop gros. Request body too large.\n")
        } else {
            let (mut parts, body) = req.into_parts();
            let direct = match &self.packs {
                Some(packs) if parts.method == Method::GET => packs.direct(parts.uri.path()).map(|d| (packs, d)),
                _ => None,
            };
            let answered = if let Some((packs, d)) = direct {
                lazy_timeout(packs.serve_direct(d, &parts.headers, parts.uri.query()), self.limits.request_timeout)
                    .await
            } else {
                parts.extensions.insert(self.info);
                // The peer in axum's own type too: the classroom app (which does not know
                // the box's types) limits sign-in tries per client with it.
                parts.extensions.insert(axum::extract::ConnectInfo(self.info.peer));
                let body = if body.is_end_stream() {
                    // A GET: nothing to limit, and an empty body costs no allocation.
                    Body::empty()
                } else {
                    // The hard limit for bodies without a Content-Length (chunked): reading
                    // past it fails, and axum's extractors answer 413.
                    Body::new(http_body_util::Limited::new(body, self.limits.max_body_bytes as usize))
                };
                let req = Request::from_parts(parts, body);
                let routed = async { self.router.oneshot(req).await.unwrap_or_else(|never| match never {}) };
                lazy_timeout(routed, self.limits.request_timeout).await
            };
            answered.unwrap_or_else(|| {
                self.metrics.requests_timed_out.fetch_add(1, Relaxed);
                plain(StatusCode::REQUEST_TIMEOUT, "Trop lent. Request timed out.\n")
            })
        };
        if n >= self.limits.keep_alive_max_requests
            || resp.status() == StatusCode::REQUEST_TIMEOUT
            || resp.status() == StatusCode::PAYLOAD_TOO_LARGE
        {
            // hyper closes the connection after a response carrying `Connection: close`.
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        headers::add_security_headers(resp.headers_mut());
        self.metrics.count_status(resp.status().as_u16());
        if let Some((method, path, t)) = access {
            tracing::debug!(peer = %self.info.peer, %method, path, status = resp.status().as_u16(), ms = t.elapsed().as_millis() as u64, "request");
        }
        Ok(resp)
    }
}

/// The handler timeout, with its timer started only if the handler does not answer at
/// its first poll: most requests (cached pack files, 304s, redirects) answer at once, and
/// for them a timer would be set up and torn down for nothing. `None` when it expired.
/// The deadline counts from that first poll, which took no time worth counting.
async fn lazy_timeout<F: Future>(fut: F, after: std::time::Duration) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(out));
        }
        let sleep = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
        sleep.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str) -> http::HeaderMap {
        let mut m = http::HeaderMap::new();
        m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
        m
    }

    #[test]
    fn only_the_box_names_are_its_own() {
        let local: IpAddr = "192.168.4.1".parse().unwrap();
        for ok in [
            "preau",
            "preau:8080",
            "PREAU.local",
            "preau.local.",
            "localhost:80",
            "127.0.0.1:9",
            "[::1]:80",
            "192.168.4.1",
        ] {
            assert!(own_host(&host(ok), "preau", local), "{ok}");
        }
        for bad in ["evil.example", "evil.example:8080", "preau.evil.example", "192.168.4.2", "preau:x", "[::2]"] {
            assert!(!own_host(&host(bad), "preau", local), "{bad}");
        }
        assert!(!own_host(&http::HeaderMap::new(), "preau", local), "no Host");
        assert!(own_host(&host("ecole-b.local"), "ecole-b", local));
    }
}
