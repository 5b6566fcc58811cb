//! A child `trilemma` process serving HTTP (`trilemma serve`, `trilemma bench
//! sse-target`): started from this program's own executable, waited for until its
//! `GET /health` answers 200, and stopped (Ctrl-C, then kill) when dropped.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// How long a started server may take to answer `/health` (a model load included).
const STARTUP: Duration = Duration::from_secs(300);

/// A child process serving HTTP; stopped (Ctrl-C, then kill) when dropped.
#[derive(Debug)]
pub struct SpawnedServer(Child);

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        // Ctrl-C first, so that the server shuts down as a user would stop it.
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts this program (the current executable) with `args`, its stderr to `log`, and
/// waits until `GET /health` on `addr` answers 200. A process that exits first is an
/// error quoting the last lines of its log.
pub fn spawn_process(args: &[&str], addr: &str, log: &Path) -> Result<SpawnedServer> {
    let what = format!("trilemma {}", args.join(" "));
    let spawn_error = |message: String| Error::Spawn {
        what: what.clone(),
        message,
    };
    let exe = std::env::current_exe()
        .map_err(|e| spawn_error(format!("cannot find this program: {e}")))?;
    let stderr = std::fs::File::create(log)
        .map_err(|e| spawn_error(format!("cannot create its log {}: {e}", log.display())))?;
    let mut server = SpawnedServer(
        Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| spawn_error(format!("starting a trilemma server process: {e}")))?,
    );
    let deadline = Instant::now() + STARTUP;
    loop {
        if let Ok(Some(status)) = server.0.try_wait() {
            let tail = std::fs::read_to_string(log).unwrap_or_default();
            return Err(spawn_error(format!(
                "exited ({status}) before it answered: {}",
                tail.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
            )));
        }
        if health_ok(addr) {
            return Ok(server);
        }
        if Instant::now() > deadline {
            return Err(spawn_error(format!(
                "did not answer /health within {} s",
                STARTUP.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A free TCP port on 127.0.0.1, as `127.0.0.1:PORT`, for a server about to be started.
pub fn free_local_addr() -> Result<String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| Error::Start(format!("cannot find a free port on 127.0.0.1: {e}")))?
        .port();
    Ok(format!("127.0.0.1:{port}"))
}

/// Starts `trilemma serve MODEL` on a free port of 127.0.0.1, serving under `served`
/// with `max_batch` (and, when given, `--threads` and `--prefill-chunk`), and waits
/// until it answers. Returns the server and its base URL with the API prefix.
pub fn spawn_serve(
    model: &str,
    served: &str,
    max_batch: usize,
    threads: Option<u32>,
    prefill_chunk: Option<usize>,
    log: &Path,
) -> Result<(SpawnedServer, String)> {
    let addr = free_local_addr()?;
    let batch = max_batch.to_string();
    let threads = threads.map(|t| t.to_string());
    let chunk = prefill_chunk.map(|c| c.to_string());
    let mut args = vec![
        "serve",
        model,
        "--listen",
        &addr,
        "--served-model",
        served,
        "--max-batch",
        &batch,
    ];
    if let Some(t) = &threads {
        args.extend(["--threads", t.as_str()]);
    }
    if let Some(c) = &chunk {
        args.extend(["--prefill-chunk", c.as_str()]);
    }
    let server = spawn_process(&args, &addr, log)?;
    Ok((server, format!("http://{addr}/v1")))
}

/// Whether `GET /health` on `addr` answers 200.
fn health_ok(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_false_where_nothing_listens() {
        let addr = free_local_addr().unwrap();
        assert!(!health_ok(&addr));
    }

    #[test]
    fn health_is_true_for_a_server_answering_200() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        });
        assert!(health_ok(&addr));
    }
}
