use anyhow::Context;
use tandem_image::{ImageConfig, ImageStore};
use tandem_supervisor::statedir::Store;

use crate::cli::ImageCommand;
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
        } => {
            let cmd = cmd.map(|c| {
                serde_json::from_str::<Vec<String>>(&c)
                    .unwrap_or_else(|_| c.split_whitespace().map(str::to_string).collect())
            });
            let config = ImageConfig {
                cmd,
                ..ImageConfig::default()
            };
            let i = images
                .import(&tarball, &reference, config)
                .with_context(|| format!("cannot import {}", tarball.display()))?;
            println!("{}", i.id);
        }
        ImageCommand::Ls => {
            let rows: Vec<Vec<String>> = images
                .list()?
                .into_iter()
                .map(|i| {
                    let (repo, tag) = match i.reference.rsplit_once(':') {
                        Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                        _ => (i.reference.clone(), "<none>".into()),
                    };
                    let id =
                        i.id.trim_start_matches("sha256:")
                            .chars()
                            .take(12)
                            .collect();
                    vec![repo, tag, id, human_size(i.size)]
                })
                .collect();
            print!(
                "{}",
                table(&["REPOSITORY", "TAG", "IMAGE ID", "SIZE"], &rows)
            );
        }
        ImageCommand::Rm { references } => {
            for r in references {
                let i = images
                    .remove(&r)
                    .with_context(|| format!("cannot remove image {r}"))?;
                println!("Untagged: {}", i.reference);
            }
        }
    }
    Ok(0)
}

fn human_size(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1}GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1}MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1}kB", b as f64 / 1024.0),
        b => format!("{b}B"),
    }
}
