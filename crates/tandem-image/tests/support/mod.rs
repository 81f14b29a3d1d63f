//! Builders for layer tars, `docker save` archives and OCI image layouts, written with the tar
//! crate's low-level headers so tests can also produce hostile entries (`../x`, absolute paths).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use tar::{EntryType, Header};

pub fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha(bytes))
}

/// ChainIDs (as hex), bottom-most first, computed independently of the crate.
pub fn chain_hex(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.trim_start_matches("sha256:").to_string(),
            Some(prev) => sha(format!("sha256:{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[derive(Clone)]
pub struct Entry {
    kind: EntryType,
    path: Vec<u8>,
    link: Vec<u8>,
    data: Vec<u8>,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    dev: (u32, u32),
}

fn entry(kind: EntryType, path: &str, mode: u32) -> Entry {
    Entry {
        kind,
        path: path.as_bytes().to_vec(),
        link: Vec::new(),
        data: Vec::new(),
        mode,
        uid: 0,
        gid: 0,
        mtime: 1_700_000_000,
        dev: (0, 0),
    }
}

pub fn file(path: &str, data: &[u8]) -> Entry {
    Entry {
        data: data.to_vec(),
        ..entry(EntryType::Regular, path, 0o644)
    }
}

pub fn dir(path: &str) -> Entry {
    entry(EntryType::Directory, path, 0o755)
}

pub fn symlink(path: &str, target: &str) -> Entry {
    Entry {
        link: target.as_bytes().to_vec(),
        ..entry(EntryType::Symlink, path, 0o777)
    }
}

pub fn hardlink(path: &str, target: &str) -> Entry {
    Entry {
        link: target.as_bytes().to_vec(),
        ..entry(EntryType::Link, path, 0o644)
    }
}

pub fn chardev(path: &str, major: u32, minor: u32) -> Entry {
    Entry {
        dev: (major, minor),
        ..entry(EntryType::Char, path, 0o666)
    }
}

pub fn fifo(path: &str) -> Entry {
    entry(EntryType::Fifo, path, 0o600)
}

impl Entry {
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }
    pub fn mtime(mut self, mtime: u64) -> Self {
        self.mtime = mtime;
        self
    }
}

/// A tar of `entries`, names written verbatim into the header (no sanitising).
pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        assert!(
            e.path.len() <= 100 && e.link.len() <= 100,
            "test names must fit in 100 bytes"
        );
        let mut h = Header::new_gnu();
        h.set_entry_type(e.kind);
        h.set_size(e.data.len() as u64);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        if matches!(e.kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(e.dev.0).expect("major");
            h.set_device_minor(e.dev.1).expect("minor");
        }
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..e.path.len()].copy_from_slice(&e.path);
        old.linkname = [0; 100];
        old.linkname[..e.link.len()].copy_from_slice(&e.link);
        h.set_cksum();
        b.append(&h, &e.data[..]).expect("append");
    }
    b.into_inner().expect("finish tar")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// Plain files → tar (for outer archives).
pub fn files_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let entries: Vec<Entry> = files.iter().map(|(p, d)| file(p, d)).collect();
    tar_of(&entries)
}

/// An image config for uncompressed layer tars.
pub fn config(layers: &[&[u8]], runtime: Value) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| digest(l)).collect();
    serde_json::to_vec(&json!({
        "created": "2024-01-02T03:04:05Z",
        "architecture": "amd64",
        "os": "linux",
        "config": runtime,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .expect("json")
}

pub fn diff_ids(layers: &[&[u8]]) -> Vec<String> {
    layers.iter().map(|l| digest(l)).collect()
}

/// One image of a `docker save` archive.
pub struct SavedImage<'a> {
    pub tags: &'a [&'a str],
    pub config: Vec<u8>,
    pub layers: Vec<Vec<u8>>,
}

/// A classic `docker save` tarball: `<config hex>.json`, `<id>/layer.tar`, `manifest.json`.
/// A layer already written by an earlier image is added as a symlink, as docker does.
pub fn docker_save(images: &[SavedImage<'_>]) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut manifest = Vec::new();
    let mut written: BTreeMap<String, String> = BTreeMap::new();
    for (i, img) in images.iter().enumerate() {
        let config_name = format!("{}.json", sha(&img.config));
        entries.push(file(&config_name, &img.config));
        let mut layer_paths = Vec::new();
        for (j, layer) in img.layers.iter().enumerate() {
            let dir_name = sha(format!("v1-{i}-{j}").as_bytes());
            let path = format!("{dir_name}/layer.tar");
            match written.get(&sha(layer)) {
                Some(first) => entries.push(symlink(&path, &format!("../{first}"))),
                None => {
                    entries.push(dir(&format!("{dir_name}/")));
                    entries.push(file(&path, layer));
                    written.insert(sha(layer), path.clone());
                }
            }
            layer_paths.push(path);
        }
        manifest
            .push(json!({ "Config": config_name, "RepoTags": img.tags, "Layers": layer_paths }));
    }
    let manifest = serde_json::to_vec(&manifest).expect("json");
    entries.push(file("manifest.json", &manifest));
    tar_of(&entries)
}

/// The newer `docker save` layout: manifest.json pointing into `blobs/sha256/`.
pub fn docker_save_blobs(tags: &[&str], config: &[u8], layers: &[Vec<u8>]) -> Vec<u8> {
    let mut files = vec![(format!("blobs/sha256/{}", sha(config)), config.to_vec())];
    let mut paths = Vec::new();
    for l in layers {
        let p = format!("blobs/sha256/{}", sha(l));
        files.push((p.clone(), l.clone()));
        paths.push(p);
    }
    let manifest = json!([{
        "Config": format!("blobs/sha256/{}", sha(config)),
        "RepoTags": tags,
        "Layers": paths,
    }]);
    files.push((
        "manifest.json".to_string(),
        serde_json::to_vec(&manifest).expect("json"),
    ));
    files_tar(&files)
}

/// An OCI image layout being assembled.
#[derive(Default)]
pub struct Oci {
    pub blobs: BTreeMap<String, Vec<u8>>,
    pub index: Vec<Value>,
}

impl Oci {
    pub fn blob(&mut self, bytes: &[u8]) -> (String, usize) {
        self.blobs.insert(sha(bytes), bytes.to_vec());
        (digest(bytes), bytes.len())
    }

    /// Adds config + layers + manifest; returns the manifest descriptor (no annotations).
    pub fn image(&mut self, config: &[u8], layers: &[(&str, Vec<u8>)]) -> Value {
        let (cd, cs) = self.blob(config);
        let layers: Vec<Value> = layers
            .iter()
            .map(|(mt, bytes)| {
                let (d, s) = self.blob(bytes);
                json!({ "mediaType": mt, "digest": d, "size": s })
            })
            .collect();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs },
            "layers": layers,
        }))
        .expect("json");
        let (md, ms) = self.blob(&manifest);
        json!({ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms })
    }

    /// Adds an image index over `(manifest descriptor, architecture)`; returns its descriptor.
    pub fn platform_index(&mut self, manifests: &[(Value, &str)]) -> Value {
        let list: Vec<Value> = manifests
            .iter()
            .map(|(m, arch)| {
                let mut m = m.clone();
                m["platform"] = json!({ "os": "linux", "architecture": arch });
                m
            })
            .collect();
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": list,
        }))
        .expect("json");
        let (d, s) = self.blob(&index);
        json!({ "mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": s })
    }

    pub fn name(&mut self, mut desc: Value, annotations: &[(&str, &str)]) {
        let ann: BTreeMap<&str, &str> = annotations.iter().copied().collect();
        desc["annotations"] = json!(ann);
        self.index.push(desc);
    }

    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = vec![
            (
                "oci-layout".to_string(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            (
                "index.json".to_string(),
                serde_json::to_vec(&json!({ "schemaVersion": 2, "manifests": self.index }))
                    .expect("json"),
            ),
        ];
        for (hex, bytes) in &self.blobs {
            files.push((format!("blobs/sha256/{hex}"), bytes.clone()));
        }
        files
    }

    pub fn tar(&self) -> Vec<u8> {
        files_tar(&self.files())
    }

    pub fn write_dir(&self, dir: &Path) {
        for (p, bytes) in self.files() {
            let path = dir.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, bytes).expect("write");
        }
    }
}

pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
