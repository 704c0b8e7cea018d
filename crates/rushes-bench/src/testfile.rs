//! Benchmark media made once with ffmpeg and cached on disk.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use tokio::process::Command;

/// `path`, made first if it is not there: ffmpeg runs with the arguments `args` gives for
/// an output file (a `.partial` beside `path`, renamed when ffmpeg succeeds, so that an
/// interrupted run never leaves a file that looks complete).
pub async fn cached(path: PathBuf, args: impl FnOnce(&Path) -> Vec<String>) -> Result<PathBuf> {
    if path.exists() {
        println!("test file: {} (cached)", path.display());
        return Ok(path);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let mut partial = path.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let args = args(&partial);
    println!("generating the test file: ffmpeg {}", args.join(" "));
    let t = Instant::now();
    let status = Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::null())
        .status()
        .await
        .context("run ffmpeg")?;
    if !status.success() {
        bail!("ffmpeg exited with {status} while generating the test file");
    }
    std::fs::rename(&partial, &path).context("rename the generated file")?;
    println!(
        "generated {} in {:.1} s",
        path.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(path)
}
