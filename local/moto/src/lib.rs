//! A `moto_server` (the AWS emulator from PyPI `moto[server]`) on a free loopback port, for
//! tests and for the offline stack. The process is stopped when the [`Moto`] is dropped.
//!
//! moto runs with cordon's extensions (`cordon_moto_server.py`, embedded in this crate): the
//! few AWS behaviours moto lacks that cordon's correctness depends on (AssumeRole refusing a
//! role that does not exist, ListParents for a delegated administrator, fixed offline account
//! ids, Security Hub's BatchUpdateFindings, action targets and GetFindings filters). It runs on the Python of the project virtualenv, `.venv/bin/python` at the workspace
//! root (or `$CORDON_MOTO_PYTHON`), which the README's commands install. A missing
//! interpreter or moto is an error that says how to install it: tests never skip because the
//! emulator is absent.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Region every offline component uses.
pub mod organization;

pub const REGION: &str = "us-east-1";
/// The account moto simulates.
pub const ACCOUNT_ID: &str = "123456789012";

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error(
        "moto_server not found at {0}: run `./dev test` (or `./dev setup`) once to install \
         moto[server] into the project virtualenv, or set CORDON_MOTO_PYTHON to a Python that has it"
    )]
    NotInstalled(PathBuf),
    #[error("could not start moto_server {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing the moto extension to {path}: {source}")]
    Extension {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("moto_server on port {port} did not answer within {secs}s")]
    NotReady { port: u16, secs: u64 },
    #[error("no free loopback port: {0}")]
    NoPort(std::io::Error),
}

/// A running moto_server.
pub struct Moto {
    child: Child,
    addr: SocketAddr,
}

impl Moto {
    /// The Python (with `moto[server]`) this process would run moto on.
    pub fn python() -> PathBuf {
        if let Some(p) = std::env::var_os("CORDON_MOTO_PYTHON") {
            return PathBuf::from(p);
        }
        workspace_root().join(".venv/bin/python")
    }

    /// Start moto_server (with cordon's extensions) on a free loopback port and wait until it
    /// answers.
    pub fn start() -> Result<Moto, MotoError> {
        let path = Self::python();
        if !path.exists() {
            return Err(MotoError::NotInstalled(path));
        }
        let script = extension_script()?;
        let port = free_port()?;
        let child = Command::new(&path)
            .arg(&script)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| MotoError::Spawn {
                path: path.clone(),
                source,
            })?;
        let moto = Moto {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        moto.wait_ready(Duration::from_secs(60))?;
        tracing::debug!(endpoint = %moto.endpoint(), "moto_server ready");
        Ok(moto)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// An SDK configuration that reaches this moto_server with test credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint()).await
    }

    /// Forget every resource (moto's `/moto-api/reset`).
    pub fn reset(&self) -> std::io::Result<()> {
        http_request(self.addr, "POST", "/moto-api/reset").map(|_| ())
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), MotoError> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(status) = http_request(self.addr, "GET", "/moto-api/")
                && status.starts_with("HTTP/1.")
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(MotoError::NotReady {
            port: self.addr.port(),
            secs: limit.as_secs(),
        })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The extension, as shipped in this crate.
pub const EXTENSION: &str = include_str!("../cordon_moto_server.py");

/// The extension written where Python can run it (once per content: the file name carries
/// its hash, so concurrent starts never see a half-written file of another version).
fn extension_script() -> Result<PathBuf, MotoError> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    EXTENSION.hash(&mut h);
    let dir = std::env::temp_dir().join("cordon-moto");
    let path = dir.join(format!("cordon_moto_server_{:016x}.py", h.finish()));
    if path.is_file() {
        return Ok(path);
    }
    let err = |source| MotoError::Extension {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(err)?;
    let tmp = dir.join(format!("{}.{}.tmp", uuid_like(), std::process::id()));
    std::fs::write(&tmp, EXTENSION).map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)?;
    Ok(path)
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// An SDK configuration for any AWS-compatible endpoint, with static test credentials, the
/// offline region, and no access to the EC2 metadata service.
pub async fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    let creds = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        .load()
        .await
}

/// The workspace root (this crate lives at `local/moto`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16, MotoError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(MotoError::NoPort)?;
    Ok(l.local_addr().map_err(MotoError::NoPort)?.port())
}

/// A minimal HTTP/1.0 request; returns the status line.
fn http_request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string())
}
