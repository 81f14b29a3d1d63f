//! `tandem image ...`: the local image store and registries.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use tandem_image::{ImageConfig, ImageStore, NamedAuth, Progress, PullSettings};
use tandem_supervisor::statedir::Store;

use crate::cli::{ImageCommand, RegistryArgs};
use crate::errors::hint_caused;
use crate::output::table;

pub fn image(store: &Store, cmd: ImageCommand) -> anyhow::Result<i32> {
    let images = ImageStore::open(&store.images)
        .with_context(|| format!("cannot open the image store at {}", store.images.display()))?;
    match cmd {
        ImageCommand::Load { input } => {
            let loaded = images
                .load(&input)
                .with_context(|| format!("cannot load {}", input.display()))?;
            for i in loaded {
                println!("Loaded image: {}", i.reference);
            }
        }
        ImageCommand::Import {
            tarball,
            reference,
            cmd,
            user,
        } => {
            let cmd = cmd.map(|c| {
                serde_json::from_str::<Vec<String>>(&c)
                    .unwrap_or_else(|_| c.split_whitespace().map(str::to_string).collect())
            });
            let config = ImageConfig {
                cmd,
                user: user.filter(|u| !u.is_empty()),
                ..ImageConfig::default()
            };
            let i = images
                .import(&tarball, &reference, config)
                .with_context(|| format!("cannot import {}", tarball.display()))?;
            println!("{}", i.id);
        }
        ImageCommand::Pull {
            reference,
            registry,
            quiet,
        } => {
            let opts = pull_settings(&registry, vec![]).options()?;
            let view = ProgressView::new(quiet);
            let rt = runtime()?;
            let report = rt
                .block_on(images.pull(&reference, &opts, &|p| view.update(p)))
                .map_err(|e| pull_error(e, &reference));
            view.finish();
            let report = report?;
            if view.enabled {
                eprintln!(
                    "{} {} ({})",
                    if report.up_to_date {
                        "Image is up to date for"
                    } else {
                        "Pulled"
                    },
                    report.image.reference,
                    report.resolved_digest
                );
            }
            println!("{}", report.image.id);
        }
        ImageCommand::Push {
            source,
            destination,
            registry,
            quiet,
        } => {
            let opts = pull_settings(&registry, vec![]).options()?;
            let view = ProgressView::new(quiet);
            let rt = runtime()?;
            let report = rt
                .block_on(images.push(&source, destination.as_deref(), &opts, &|p| view.update(p)));
            view.finish();
            let report = report.with_context(|| format!("cannot push {source}"))?;
            if view.enabled {
                eprintln!(
                    "Pushed {} ({} blobs, {})",
                    report.reference,
                    report.blobs_pushed,
                    human_size(report.bytes_pushed)
                );
            }
            println!("{}", report.manifest_digest);
        }
        ImageCommand::Inspect { references } => {
            let mut out = vec![];
            for r in &references {
                out.push(
                    images
                        .inspect(r)
                        .with_context(|| format!("cannot inspect image {r}"))?,
                );
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        ImageCommand::Ls => {
            let rows: Vec<Vec<String>> = images
                .list()?
                .into_iter()
                .map(|i| {
                    let (name, digest_pin) = match i.reference.split_once('@') {
                        Some((n, d)) => (n.to_string(), Some(d.to_string())),
                        None => (i.reference.clone(), None),
                    };
                    let (repo, tag) = match name.rsplit_once(':') {
                        Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                        _ => (name.clone(), "<none>".into()),
                    };
                    let short = |d: &str| -> String {
                        d.trim_start_matches("sha256:").chars().take(12).collect()
                    };
                    let digest = digest_pin.unwrap_or_else(|| i.manifest_digest.clone());
                    vec![
                        repo,
                        tag,
                        format!("sha256:{}", short(&digest)),
                        short(&i.id),
                        i.created.clone().unwrap_or_else(|| "<unknown>".into()),
                        human_size(i.size),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &["REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE"],
                    &rows
                )
            );
        }
        ImageCommand::Rm { references, force } => {
            for r in references {
                if !force {
                    if let Some(found) = images.lookup(&r)? {
                        let users = pods_using(store, &images, &found.id)?;
                        if !users.is_empty() {
                            return Err(crate::errors::hint(
                                format!("image {r} is in use by pod(s) {}", users.join(", ")),
                                "delete those pods first, or pass --force",
                            ));
                        }
                    }
                }
                let i = images
                    .remove(&r)
                    .with_context(|| format!("cannot remove image {r}"))?;
                println!("Untagged: {}", i.reference);
            }
        }
        ImageCommand::Prune => {
            let report = images.prune().context("cannot prune the image store")?;
            println!(
                "Deleted {} blob(s) and {} snapshot(s)",
                report.blobs_removed, report.snapshots_removed
            );
        }
    }
    Ok(0)
}

/// `namespace/name` of every live pod with a container or an image volume whose image is `id`.
fn pods_using(store: &Store, images: &ImageStore, id: &str) -> anyhow::Result<Vec<String>> {
    let mut out = vec![];
    for dir in super::list_pods(store)? {
        if dir.live_supervisor().is_none() {
            continue;
        }
        let Ok(bytes) = std::fs::read(dir.plan_json()) else {
            continue;
        };
        let Ok(plan) = serde_json::from_slice::<tandem_api::plan::PodPlan>(&bytes) else {
            continue;
        };
        let volumes = plan.volumes.iter().filter_map(|v| match &v.source {
            tandem_api::plan::VolumeSource::Image { reference, .. } => Some(reference),
            _ => None,
        });
        let uses = plan
            .all_containers()
            .map(|c| &c.image)
            .chain(volumes)
            .any(|r| images.lookup(r).ok().flatten().is_some_and(|i| i.id == id));
        if uses {
            out.push(format!("{}/{}", plan.namespace, plan.name));
        }
    }
    Ok(out)
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The pull settings the flags give, with `secrets` (imagePullSecrets) before the auth file.
pub(crate) fn pull_settings(args: &RegistryArgs, secrets: Vec<NamedAuth>) -> PullSettings {
    PullSettings {
        registries_conf: args.registries_conf.clone(),
        authfile: args.authfile.clone(),
        tls_verify: args.tls_verify,
        pull_secrets: secrets,
    }
}

/// A pull failure with the hint that fits its kind.
pub(crate) fn pull_error(e: tandem_image::Error, reference: &str) -> anyhow::Error {
    let hint = match e.kind() {
        tandem_image::ErrorKind::NotFound => "check the image name and tag (`tandem image pull NAME:TAG`)",
        tandem_image::ErrorKind::FailedPrecondition => {
            "give credentials with --authfile (docker config.json format) or an imagePullSecret"
        }
        tandem_image::ErrorKind::Unavailable => {
            "check the network and the registry; for a plain-HTTP registry add it with `insecure = true` to registries.conf (--registries-conf) or pass --tls-verify=false"
        }
        _ => "the image is broken or was tampered with; nothing of it was unpacked",
    };
    hint_caused(e, format!("cannot pull image {reference}"), hint)
}

#[derive(Default)]
struct Row {
    total: u64,
    done: u64,
    state: &'static str,
    started: Option<Instant>,
}

/// Per-layer progress lines (bytes, rate, ETA) on a terminal; silent otherwise.
pub(crate) struct ProgressView {
    pub enabled: bool,
    inner: Mutex<ViewState>,
}

#[derive(Default)]
struct ViewState {
    rows: BTreeMap<String, Row>,
    order: Vec<String>,
    drawn: usize,
    last_draw: Option<Instant>,
}

impl ProgressView {
    pub(crate) fn new(quiet: bool) -> Self {
        ProgressView {
            enabled: !quiet && std::io::stderr().is_terminal(),
            inner: Mutex::new(ViewState::default()),
        }
    }

    pub(crate) fn update(&self, p: Progress) {
        if !self.enabled {
            return;
        }
        let Ok(mut st) = self.inner.lock() else {
            return;
        };
        let mut force = false;
        match p {
            Progress::Resolved { blobs, .. } => {
                for (d, size) in blobs {
                    if !st.rows.contains_key(&d) {
                        st.order.push(d.clone());
                    }
                    st.rows.insert(
                        d,
                        Row {
                            total: size,
                            state: "Waiting",
                            ..Row::default()
                        },
                    );
                }
                force = true;
            }
            Progress::Exists { digest, .. } => {
                st.rows.entry(digest).or_default().state = "Already exists";
                force = true;
            }
            Progress::Bytes {
                digest,
                done,
                total,
            } => {
                let row = st.rows.entry(digest).or_default();
                row.started.get_or_insert_with(Instant::now);
                row.done = done;
                row.total = total;
                row.state = "Downloading";
            }
            Progress::Retrying { digest, .. } => {
                st.rows.entry(digest).or_default().state = "Retrying";
            }
            Progress::Done { digest, size } => {
                let row = st.rows.entry(digest).or_default();
                row.done = size;
                row.state = "Verified";
                force = true;
            }
            Progress::Unpacking { digest } => {
                st.rows.entry(digest).or_default().state = "Unpacking";
                force = true;
            }
            Progress::Unpacked { digest } => {
                st.rows.entry(digest).or_default().state = "Pull complete";
                force = true;
            }
        }
        let due = st
            .last_draw
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if force || due {
            draw(&mut st);
        }
    }

    pub(crate) fn finish(&self) {
        if !self.enabled {
            return;
        }
        if let Ok(mut st) = self.inner.lock() {
            draw(&mut st);
        }
    }
}

fn draw(st: &mut ViewState) {
    st.last_draw = Some(Instant::now());
    let mut out = String::new();
    if st.drawn > 0 {
        out.push_str(&format!("\x1b[{}A", st.drawn));
    }
    for d in &st.order {
        let Some(row) = st.rows.get(d) else { continue };
        let short: String = d.trim_start_matches("sha256:").chars().take(12).collect();
        let mut line = format!("{short}: {:<15}", row.state);
        if row.state == "Downloading" || row.state == "Retrying" {
            let elapsed = row.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
            let rate = if elapsed > 0.0 {
                row.done as f64 / elapsed
            } else {
                0.0
            };
            let width = 24usize;
            let filled = (row.done * width as u64)
                .checked_div(row.total)
                .unwrap_or(0)
                .min(width as u64) as usize;
            let eta = if rate > 0.0 {
                let secs = row.total.saturating_sub(row.done) as f64 / rate;
                format!("ETA {}s", secs.ceil() as u64)
            } else {
                "ETA --".to_string()
            };
            line.push_str(&format!(
                " [{}{}] {}/{} {}/s {eta}",
                "=".repeat(filled),
                " ".repeat(width - filled),
                human_size(row.done),
                human_size(row.total),
                human_size(rate as u64),
            ));
        } else if row.total > 0 {
            line.push_str(&format!(" {}", human_size(row.total)));
        }
        out.push_str("\x1b[2K");
        out.push_str(&line);
        out.push('\n');
    }
    st.drawn = st.order.len();
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(out.as_bytes());
    let _ = err.flush();
}

pub(crate) fn human_size(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1}GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1}MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1}kB", b as f64 / 1024.0),
        b => format!("{b}B"),
    }
}
