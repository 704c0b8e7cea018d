//! Running ffprobe and ffmpeg: spawn, stream stdout line by line, keep stderr, kill at the timeout.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

use crate::MediaError;

/// At most this much of a tool's stderr is kept for an error.
const STDERR_LIMIT: usize = 64 * 1024;

/// Starts `program args` with stdout piped to the caller and stderr drained beside it (so
/// that neither pipe fills and blocks the child): the child, its stdout, and a task that
/// ends with the first [`STDERR_LIMIT`] bytes of its stderr. The child is killed if
/// dropped. A program that is not there is [`MediaError::ToolMissing`].
pub(crate) fn spawn_piped<S: AsRef<std::ffi::OsStr>>(
    program: &Path,
    args: &[S],
) -> Result<(Child, ChildStdout, JoinHandle<String>), MediaError> {
    let tool = program.display().to_string();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                MediaError::ToolMissing {
                    tool: tool.clone(),
                    source,
                }
            } else {
                MediaError::Spawn {
                    tool: tool.clone(),
                    source,
                }
            }
        })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(MediaError::Spawn {
            tool,
            source: std::io::Error::other("no pipe to the child process"),
        });
    };
    let stderr_task = tokio::spawn(async move {
        let mut kept = Vec::new();
        let mut reader = stderr.take(STDERR_LIMIT as u64);
        let _ = reader.read_to_end(&mut kept).await;
        // Whatever is beyond the limit is read and dropped.
        let mut rest = reader.into_inner();
        let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
        String::from_utf8_lossy(&kept).into_owned()
    });
    Ok((child, stdout, stderr_task))
}

/// Runs `program args`, handing each line of its stdout to `on_line` as it arrives, and
/// succeeds when the program exits 0 within `timeout`.
///
/// A program that is not there is [`MediaError::ToolMissing`]; a non-zero exit is
/// [`MediaError::Failed`] with the program's stderr; a program still running at `timeout`
/// is killed and is [`MediaError::Timeout`]. An error from `on_line` kills the program and
/// is returned as it is.
pub(crate) async fn run_lines<F>(
    program: &Path,
    args: &[&std::ffi::OsStr],
    timeout: Duration,
    mut on_line: F,
) -> Result<(), MediaError>
where
    F: FnMut(&str) -> Result<(), MediaError>,
{
    let tool = program.display().to_string();
    let (mut child, stdout, stderr_task) = spawn_piped(program, args)?;

    let work = async {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await.map_err(MediaError::Io)? {
            on_line(&line)?;
        }
        child.wait().await.map_err(MediaError::Io)
    };
    let outcome = tokio::time::timeout(timeout, work).await;
    match outcome {
        Ok(Ok(status)) => {
            let stderr = stderr_task.await.unwrap_or_default();
            if status.success() {
                Ok(())
            } else {
                Err(MediaError::Failed {
                    tool,
                    code: status.code(),
                    stderr: stderr.trim_end().to_owned(),
                })
            }
        }
        Ok(Err(e)) => {
            let _ = child.kill().await;
            stderr_task.abort();
            Err(e)
        }
        Err(_) => {
            // `kill` also waits, so no zombie is left behind.
            let _ = child.kill().await;
            stderr_task.abort();
            Err(MediaError::Timeout {
                tool,
                after: timeout,
            })
        }
    }
}
