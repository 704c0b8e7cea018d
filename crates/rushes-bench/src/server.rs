//! The store under test: a URL on loopback, optionally a server process this driver spawned.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::Url;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const LISTENING_PREFIX: &str = "rushes listening on ";

/// A server process started with `--spawn`; killed if dropped before `shutdown`.
pub struct Spawned {
    child: Child,
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Spawned {
    /// Starts `<binary> serve --listen 127.0.0.1:0 --data-dir <dir> <extra...>` and waits
    /// for its listening line. Without `data_dir`, a temporary directory is used and removed after.
    pub async fn start(
        binary: &Path,
        data_dir: Option<&Path>,
        extra: &[String],
    ) -> Result<(Spawned, Url)> {
        let (temp, dir) = match data_dir {
            Some(d) => (None, d.to_path_buf()),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("rushes-bench-")
                    .tempdir()
                    .context("create a temporary data dir")?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let mut child = Command::new(binary)
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {}", binary.display()))?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.trim().strip_prefix(LISTENING_PREFIX) {
                    return Ok::<_, std::io::Error>(Some(url.to_owned()));
                }
            }
            Ok(None)
        })
        .await
        .context("no listening line within 60 s")??
        .context("the server exited before printing its listening line")?;
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let url = Url::parse(&url).with_context(|| format!("listening URL {url:?}"))?;
        Ok((
            Spawned {
                child,
                data_dir: dir,
                _temp: temp,
            },
            url,
        ))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM, then wait up to 30 s (SIGKILL after that).
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(pid) = self.child.id() {
            Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await
                .context("run kill")?;
        }
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!("server exited with {status} after SIGTERM");
                }
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                bail!("server did not exit within 30 s of SIGTERM")
            }
        }
    }
}

/// Refuses any URL whose host is not a loopback address: this driver never sends load elsewhere.
pub fn ensure_loopback(url: &Url) -> Result<()> {
    let ok = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !ok {
        bail!("{url} is not on loopback; rushes-bench only drives servers on this machine");
    }
    Ok(())
}

/// Resident memory of a process, from /proc/<pid>/status.
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// Total size in bytes of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// KiB as MiB with one decimal, for the report.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_accepted() {
        for ok in [
            "http://127.0.0.1:8080/",
            "http://localhost:1/",
            "http://[::1]:80/",
        ] {
            assert!(ensure_loopback(&Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/",
            "http://192.168.1.2:8080/",
            "http://example.com/",
        ] {
            assert!(ensure_loopback(&Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_own_memory() {
        let m = memory(std::process::id()).unwrap();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
    }
}
