//! The listener's connection limits on a real socket on 127.0.0.1: a client that stops
//! reading an endless stream is cut once a write has waited `write_timeout` (the stream
//! is dropped on the server, so nothing keeps producing for it), and a client that never
//! finishes its headers is cut after `header_timeout`.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::routing::get;
use axum::Router;
use trilemma_guard::Limits;

/// Sets its flag when dropped: the server let go of the stream.
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn limits() -> Limits {
    Limits {
        write_timeout: Duration::from_millis(500),
        header_timeout: Duration::from_millis(500),
        ..Limits::default()
    }
}

/// Serves `router` with `limits()` on a free port; returns the address.
async fn start(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        trilemma_guard::serve(listener, router, &limits(), std::future::pending())
            .await
            .unwrap();
    });
    addr
}

/// Waits (up to a minute, a bound and not a timing goal) for `flag`.
async fn wait_for(flag: &AtomicBool) -> bool {
    for _ in 0..600 {
        if flag.load(Ordering::SeqCst) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_and_its_stream_dropped() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let router = Router::new().route(
        "/endless",
        get(move || {
            let keep = Dropped(flag.clone());
            async move {
                let chunks = std::iter::repeat_with(move || {
                    let _ = &keep;
                    Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 64 * 1024]))
                });
                Body::from_stream(tokio_stream::iter(chunks))
            }
        }),
    );
    let addr = start(router).await;
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The client reads nothing: the socket's buffers fill, a write waits, and the
    // server cuts the connection.
    assert!(
        wait_for(&dropped).await,
        "the server still holds the stream of a client that stopped reading"
    );
    // What the client can still read is what the buffers held: finite, then the end.
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut sink = Vec::new();
    let ended =
        tokio::task::spawn_blocking(move || conn.read_to_end(&mut sink).map(|_| sink.len()))
            .await
            .unwrap();
    match ended {
        Ok(n) => assert!(n > 0, "the stream had begun"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut() {
    let addr = start(Router::new().route("/", get(|| async { "ok" }))).await;
    let answer = tokio::task::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).map(|_| got)
    })
    .await
    .unwrap();
    match answer {
        // Closed (hyper may say 408 first); never the route's answer.
        Ok(bytes) => assert!(
            !String::from_utf8_lossy(&bytes).contains("ok"),
            "{}",
            String::from_utf8_lossy(&bytes)
        ),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_is_served_whole() {
    let addr = start(Router::new().route("/", get(|| async { "ok" }))).await;
    let got = tokio::task::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut s = String::new();
        conn.read_to_string(&mut s).unwrap();
        s
    })
    .await
    .unwrap();
    assert!(
        got.starts_with("HTTP/1.1 200") && got.ends_with("ok"),
        "{got}"
    );
}
