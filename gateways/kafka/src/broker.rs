//! The local Kafka-compatible broker (`nisshi`) that `eventmall up` runs as a child process,
//! with its log and storage in the data directory.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tracing::{info, warn};

use crate::{BrokerSettings, Error, Result};

/// A broker process started by us; stopped by [`LocalBroker::stop`], killed when dropped.
pub struct LocalBroker {
    child: Child,
    bootstrap_servers: String,
    dir: PathBuf,
}

/// What the broker prints once it accepts connections.
const READY_LINE: &str = "ready in";

impl LocalBroker {
    /// Starts the broker with its files under `dir` and waits until it is ready.
    pub async fn start(settings: &BrokerSettings, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(file_error("creating", dir))?;
        stop_orphan(dir).await;
        let binary = find_binary(&settings.binary)?;
        let port = match settings.port {
            0 => free_port().map_err(|e| Error::Broker(format!("finding a free port: {e}")))?,
            port => port,
        };
        let storage = match settings.storage.as_str() {
            // Relative to the broker's working directory, which is `dir`.
            "" => "sqlite://broker.db".to_owned(),
            storage => storage.to_owned(),
        };
        let listener = format!("tcp://127.0.0.1:{port}");
        let log_path = dir.join("broker.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(file_error("opening", &log_path))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let child = Command::new(&binary)
            .current_dir(dir)
            .arg("broker")
            .args(["--storage-engine", &storage])
            .args(["--listener-url", &listener])
            .args(["--advertised-listener-url", &listener])
            .arg("--group-initial-rebalance-delay")
            .arg(format!("{}ms", settings.group_initial_rebalance_delay_ms))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(file_error("opening", &log_path))?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(file_error("starting", &binary))?;
        if let Some(pid) = child.id() {
            let pid_file = dir.join("broker.pid");
            std::fs::write(&pid_file, pid.to_string()).map_err(file_error("writing", &pid_file))?;
        }
        let mut broker = Self {
            child,
            bootstrap_servers: format!("127.0.0.1:{port}"),
            dir: dir.to_owned(),
        };
        let timeout = Duration::from_millis(settings.ready_timeout_ms);
        if let Err(error) = broker.wait_ready(&log_path, log_start, timeout).await {
            broker.stop().await;
            return Err(error);
        }
        info!(bootstrap = %broker.bootstrap_servers, log = %log_path.display(), "local broker ready");
        Ok(broker)
    }

    /// `host:port` to bootstrap clients from.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    async fn wait_ready(&mut self, log: &Path, from: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(Error::Broker(format!(
                    "it exited ({status}) before it was ready; its log says:\n{}",
                    log_tail(log, from)
                )));
            }
            if log_tail(log, from).contains(READY_LINE) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Broker(format!(
                    "it was not ready within {timeout:?}; its log says:\n{}",
                    log_tail(log, from)
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asks the broker to stop (SIGTERM), and kills it if it has not within five seconds.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|pid| i32::try_from(pid).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_err()
            {
                warn!("the broker did not stop within 5 s; killing it");
                let _ = self.child.kill().await;
            }
        }
        let _ = std::fs::remove_file(self.dir.join("broker.pid"));
        info!("local broker stopped");
    }
}

/// The log written since offset `from`, at most its last 4 KiB.
fn log_tail(log: &Path, from: u64) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let start = usize::try_from(from).unwrap_or(0).min(text.len());
    let start = start.max(text.len().saturating_sub(4096));
    String::from_utf8_lossy(&text[start..]).into_owned()
}

/// Stops a broker left running by an earlier run that was killed without a chance to stop it.
async fn stop_orphan(dir: &Path) {
    let Ok(pid) = std::fs::read_to_string(dir.join("broker.pid")) else {
        return;
    };
    let Ok(pid) = pid.trim().parse::<i32>() else {
        return;
    };
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let ours = String::from_utf8_lossy(&cmdline).contains("broker");
    if ours && std::fs::canonicalize(dir).is_ok_and(|dir| dir == cwd) {
        warn!(pid, "stopping the broker an earlier run left behind");
        let pid = Pid::from_raw(pid);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while kill(pid, None).is_ok() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if kill(pid, None).is_ok() {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// `binary` itself when it is a path, else the first match on `PATH`, else the one
/// `scripts/install-broker` keeps in its cache (`$EVENTMALL_BROKER_ROOT/bin`, by default
/// `~/.cache/eventmall/broker/bin`).
fn find_binary(binary: &str) -> Result<PathBuf> {
    if binary.contains('/') {
        return Ok(PathBuf::from(binary));
    }
    let installed = install_root().map(|root| root.join("bin"));
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .chain(installed)
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            Error::Broker(format!(
                "`{binary}` is neither on PATH nor installed in {}: run scripts/install-broker, \
                 set EVENTMALL__BROKER__BINARY, or point KAFKA_BOOTSTRAP_SERVERS at a cluster",
                install_root().map_or("~/.cache/eventmall/broker".into(), |root| root
                    .display()
                    .to_string())
            ))
        })
}

/// Where `scripts/install-broker` installs the broker.
fn install_root() -> Option<PathBuf> {
    match std::env::var_os("EVENTMALL_BROKER_ROOT") {
        Some(root) => Some(PathBuf::from(root)),
        None => {
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/eventmall/broker"))
        }
    }
}

/// The error of a file operation on `path`.
fn file_error(context: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let context = format!("{context} {}", path.display());
    move |source| Error::BrokerFile { context, source }
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> std::io::Result<u16> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?
        .local_addr()
        .map(|addr| addr.port())
}
