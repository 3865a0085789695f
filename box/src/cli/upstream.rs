//! `preau upstream push`: send the box's outbox of xAPI statements to the learning record
//! store of `[upstream]`, from a shell (the background sync of `preau serve` does the
//! same by itself). The logic is in `preau_sync::upstream`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use preau_sync::upstream::{LrsEndpoint, PublishOptions, PushOptions, UpstreamJob, run_job};

use crate::config::Config;
use crate::identity;

#[derive(Subcommand)]
pub enum UpstreamCommand {
    /// Send the statements waiting in the outbox to the LRS of `[upstream]`, then the
    /// box's health statement.
    Push(PushArgs),
}

#[derive(Args)]
pub struct PushArgs {
    /// The box data folder.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The `preau.toml` with the `[upstream]` section (the same file as `preau serve`).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Consecutive failures (cuts, timeouts, 5xx) before giving up; the next push resumes.
    #[arg(long, default_value_t = 8)]
    pub max_retries: u32,
    /// First wait after a failure, in milliseconds; doubled each time (with jitter), at
    /// most an hour.
    #[arg(long, default_value_t = 1000)]
    pub retry_base_ms: u64,
    /// Most statements per request (at most 500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub batch: u16,
    /// Seconds an LRS has to answer one request.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    /// Print a JSON summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(c: UpstreamCommand) -> Result<()> {
    match c {
        UpstreamCommand::Push(a) => push(a),
    }
}

/// The push job `[upstream]` describes for this data folder, `None` when the box does
/// not push (no `lrs`, or `enabled = false`).
pub fn job(config: &Config, data_dir: &Path, box_id: &str) -> Option<UpstreamJob> {
    let u = &config.upstream;
    if !u.active() {
        return None;
    }
    let lrs = u.lrs.clone()?;
    let mut push = PushOptions::new(PublishOptions {
        box_id: box_id.to_string(),
        home_page: u.home_page_base().unwrap_or(&lrs).to_string(),
        send_responses: u.send_responses,
    });
    push.keep_days = u.keep_days;
    push.max_outbox = u.max_outbox;
    Some(UpstreamJob {
        data_dir: data_dir.to_path_buf(),
        endpoint: LrsEndpoint {
            statements_url: format!("{lrs}xAPI/statements"),
            username: u.username.clone().unwrap_or_default(),
            password: u.password.clone().unwrap_or_default(),
            timeout: Duration::from_secs(60),
            max_rate: config.sync.max_rate,
            try_gzip: true,
        },
        push,
        send_health: true,
    })
}

fn push(a: PushArgs) -> Result<()> {
    let config = Config::load(&a.config)?;
    if config.upstream.lrs.is_none() {
        bail!("{}: no [upstream] lrs: there is nowhere to push to", a.config.display());
    }
    if !config.upstream.enabled {
        bail!("{}: [upstream] enabled = false", a.config.display());
    }
    if !a.data.join(preau_sync::upstream::DB_FILE).is_file() {
        bail!("{}: no learner database in this data folder (start the box once)", a.data.display());
    }
    let box_id = identity::load_or_create(&a.data)?;
    let mut job = job(&config, &a.data, &box_id).context("[upstream] is not active")?;
    job.push.max_retries = a.max_retries;
    job.push.max_batch = usize::from(a.batch);
    job.push.retry_base = Duration::from_millis(a.retry_base_ms.clamp(1, 3_600_000));
    job.endpoint.timeout = Duration::from_secs(a.timeout_secs.clamp(1, 3600));
    let bar = if !a.json && std::io::stderr().is_terminal() {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        b.set_message("envoi / sending");
        b
    } else {
        ProgressBar::hidden()
    };
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let sleep = |d: Duration| {
        bar.set_message(format!("nouvel essai dans / retry in {:.1} s", d.as_secs_f64()));
        std::thread::sleep(d);
        bar.set_message("envoi / sending");
        false
    };
    let (summary, health) = run_job(&job, None, &progress, &sleep)?;
    bar.finish_and_clear();
    if a.json {
        let mut v = serde_json::to_value(&summary)?;
        v["health_sent"] = serde_json::json!(health);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "sent {} statements ({} quarantined, {} still waiting) in {} requests, {} bytes{}, {:.1} s",
            summary.sent,
            summary.quarantined,
            summary.remaining,
            summary.requests,
            summary.bytes,
            if summary.gzip { " gzipped" } else { "" },
            summary.seconds
        );
        if summary.dropped > 0 {
            println!("the outbox was full: {} unsent statements were dropped, oldest first", summary.dropped);
        }
    }
    match summary.error {
        Some(e) => bail!("the push stopped: {e}"),
        None => Ok(()),
    }
}

/// What the admin page shows of `[upstream]` (never the password), if the box pushes.
pub fn upstream_info(config: &Config, data_dir: &Path, box_id: &str) -> Option<preau_classroom::UpstreamInfo> {
    job(config, data_dir, box_id).map(|j| preau_classroom::UpstreamInfo {
        lrs: config.upstream.lrs.clone().unwrap_or_default(),
        publish: j.push.publish,
        keep_days: j.push.keep_days,
        max_outbox: j.push.max_outbox,
    })
}
