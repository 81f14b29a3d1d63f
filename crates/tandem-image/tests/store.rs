mod support;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::json;
use support::*;
use tandem_image::{Error, ErrorKind, ImageConfig, ImageStore, DEFAULT_PATH_ENV};
use tempfile::TempDir;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

macro_rules! needs_root {
    ($why:expr) => {
        if !is_root() {
            tandem_testkit::skip(&format!("needs root ({})", $why));
            return;
        }
    };
}

struct Fixture {
    _dir: TempDir,
    base: PathBuf,
    store: ImageStore,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().to_path_buf();
        let store = ImageStore::open(base.join("store")).expect("open store");
        Fixture {
            _dir: dir,
            base,
            store,
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.base.join(name);
        fs::write(&p, bytes).expect("write archive");
        p
    }

    fn count(&self, sub: &str) -> usize {
        fs::read_dir(self.store.root().join(sub))
            .expect("read dir")
            .count()
    }

    /// No temp files, no half-made snapshots, nothing stored.
    fn assert_pristine(&self) {
        assert_eq!(self.count("ingest"), 0, "ingest/ must be empty");
        assert_eq!(self.count("snapshots"), 0, "no snapshot may exist");
        assert!(self.store.list().expect("list").is_empty());
    }

    /// Imports a single-layer rootfs tar and resolves it (which unpacks it).
    fn import_and_resolve(&self, layer: &[u8]) -> Result<tandem_image::ResolvedImage, Error> {
        let tar = self.write("rootfs.tar", layer);
        self.store
            .import(&tar, "localhost/evil:1", ImageConfig::default())
            .expect("import only checks the tar structure");
        self.store.resolve("localhost/evil:1")
    }
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn runtime() -> serde_json::Value {
    json!({
        "Entrypoint": ["/bin/sh"],
        "Cmd": ["-c", "true"],
        "Env": ["PATH=/bin", "FOO=bar"],
        "WorkingDir": "/w",
        "User": "1000",
        "ExposedPorts": { "80/tcp": {} },
        "Labels": { "a": "b" },
    })
}

#[test]
fn docker_save_two_layers_with_whiteouts_loads_and_resolves() {
    let f = Fixture::new();
    let l1 = tar_of(&[
        dir("etc/"),
        file("etc/hostname", b"base"),
        dir("d/"),
        file("d/old", b"old"),
        file("gone", b"x"),
    ]);
    let l2 = tar_of(&[
        file(".wh.gone", b""),
        dir("d/"),
        file("d/.wh..wh..opq", b""),
        file("d/new", b"new"),
    ]);
    let cfg = config(&[&l1, &l2], runtime());
    let archive = f.write(
        "demo.tar",
        &docker_save(&[SavedImage {
            tags: &["demo:latest"],
            config: cfg.clone(),
            layers: vec![l1.clone(), l2.clone()],
        }]),
    );
    let loaded = f.store.load(&archive).expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].reference, "docker.io/library/demo:latest");
    assert_eq!(loaded[0].id, digest(&cfg));
    assert_eq!(loaded[0].created.as_deref(), Some("2024-01-02T03:04:05Z"));
    let expected_size = (cfg.len() + l1.len() + l2.len()) as u64;
    assert!(
        loaded[0].size > expected_size,
        "size counts manifest+config+layers"
    );
    assert_eq!(f.store.list().expect("list"), loaded);
    assert_eq!(f.count("ingest"), 0);

    if !is_root() {
        let err = f.store.resolve("demo").expect_err("whiteouts need root");
        assert_eq!(err.kind(), ErrorKind::FailedPrecondition);
        tandem_testkit::skip("needs root (whiteout char devices, overlay xattrs)");
        return;
    }
    let img = f.store.resolve("demo").expect("resolve");
    assert_eq!(img.reference, "docker.io/library/demo:latest");
    assert_eq!(img.id, loaded[0].id);
    let chains = chain_hex(&diff_ids(&[&l1, &l2]));
    let snapshots = f.store.root().join("snapshots");
    assert_eq!(
        img.layers,
        vec![
            snapshots.join(&chains[1]).join("fs"),
            snapshots.join(&chains[0]).join("fs")
        ],
        "top-most layer first, keyed by ChainID"
    );
    assert_eq!(img.config.entrypoint, Some(vec!["/bin/sh".to_string()]));
    assert_eq!(
        img.config.cmd,
        Some(vec!["-c".to_string(), "true".to_string()])
    );
    assert_eq!(img.config.env, vec!["PATH=/bin", "FOO=bar"]);
    assert_eq!(img.config.working_dir.as_deref(), Some("/w"));
    assert_eq!(img.config.user.as_deref(), Some("1000"));
    assert_eq!(img.config.exposed_ports, vec!["80/tcp"]);
    assert_eq!(img.config.labels.get("a").map(String::as_str), Some("b"));

    let (top, base) = (&img.layers[0], &img.layers[1]);
    assert_eq!(fs::read(base.join("gone")).expect("base file"), b"x");
    assert_eq!(fs::read(base.join("d/old")).expect("base file"), b"old");
    assert_eq!(
        fs::read(base.join("etc/hostname")).expect("base file"),
        b"base"
    );
    let wh = fs::symlink_metadata(top.join("gone")).expect("whiteout");
    assert!(wh.file_type().is_char_device(), "whiteout is a char device");
    assert_eq!(wh.rdev(), 0, "whiteout is device 0:0");
    assert!(fs::symlink_metadata(top.join(".wh.gone")).is_err());
    assert!(fs::symlink_metadata(top.join("d/.wh..wh..opq")).is_err());
    let opaque = xattr::get(top.join("d"), "trusted.overlay.opaque").expect("xattr");
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
    assert_eq!(fs::read(top.join("d/new")).expect("top file"), b"new");

    let mount = img.rootfs_mount(Path::new("/u"), Path::new("/w"));
    assert_eq!(mount.fstype, "overlay");
    assert_eq!(mount.source, "overlay");
    assert_eq!(
        mount.options,
        vec![
            format!("lowerdir={}:{}", top.display(), base.display()),
            "upperdir=/u".to_string(),
            "workdir=/w".to_string()
        ]
    );
    assert_eq!(f.count("ingest"), 0);
}

#[test]
fn newer_docker_save_layout_with_several_tags() {
    let f = Fixture::new();
    let l1 = tar_of(&[file("hello", b"hi")]);
    let cfg = config(&[&l1], json!({ "Cmd": ["/hello"] }));
    let archive = f.write(
        "new.tar",
        &docker_save_blobs(
            &["localhost/app:1", "app:2"],
            &cfg,
            std::slice::from_ref(&l1),
        ),
    );
    let loaded = f.store.load(&archive).expect("load");
    let refs: Vec<&str> = loaded.iter().map(|s| s.reference.as_str()).collect();
    assert_eq!(refs, vec!["localhost/app:1", "docker.io/library/app:2"]);
    assert_eq!(loaded[0].id, loaded[1].id);
    let a = f
        .store
        .resolve("localhost/app:1")
        .expect("resolve by host name");
    let b = f.store.resolve("app:2").expect("resolve by short name");
    assert_eq!(a.layers, b.layers);
    assert_eq!(fs::read(a.layers[0].join("hello")).expect("file"), b"hi");
    assert_eq!(a.config.cmd, Some(vec!["/hello".to_string()]));
}

#[test]
fn oci_layout_gzip_tarball_picks_host_platform() {
    let f = Fixture::new();
    let host = tar_of(&[file("arch", host_arch().as_bytes())]);
    let other = tar_of(&[file("arch", b"other")]);
    let mut oci = Oci::default();
    let host_manifest = oci.image(
        &config(&[&host], json!({ "Entrypoint": ["/arch"] })),
        &[(LAYER_GZIP, gzip(&host))],
    );
    let other_manifest = oci.image(&config(&[&other], json!({})), &[(LAYER_GZIP, gzip(&other))]);
    let other_arch = if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let index = oci.platform_index(&[
        (other_manifest, other_arch),
        (host_manifest.clone(), host_arch()),
    ]);
    oci.name(
        index,
        &[
            ("io.containerd.image.name", "example.com/multi:v1"),
            ("org.opencontainers.image.ref.name", "v1"),
        ],
    );
    let archive = f.write("multi.tar.gz", &gzip(&oci.tar()));
    let loaded = f.store.load(&archive).expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].reference, "example.com/multi:v1");
    assert_eq!(
        loaded[0].manifest_digest,
        host_manifest["digest"].as_str().expect("digest")
    );
    let img = f.store.resolve("example.com/multi:v1").expect("resolve");
    assert_eq!(img.layers.len(), 1);
    assert_eq!(
        fs::read(img.layers[0].join("arch")).expect("file"),
        host_arch().as_bytes()
    );
    assert_eq!(img.config.entrypoint, Some(vec!["/arch".to_string()]));
    // The gzip layer is keyed by its DiffID (uncompressed digest).
    let chain = chain_hex(&diff_ids(&[&host]));
    assert!(img.layers[0].starts_with(f.store.root().join("snapshots").join(&chain[0])));
}

#[test]
fn oci_layout_directory_with_full_ref_name_and_manifest_digest_lookup() {
    let f = Fixture::new();
    let layer = tar_of(&[dir("bin/"), file("bin/tool", b"#!/bin/sh\n").mode(0o755)]);
    let mut oci = Oci::default();
    let manifest = oci.image(&config(&[&layer], json!({})), &[(LAYER_TAR, layer.clone())]);
    let manifest_digest = manifest["digest"].as_str().expect("digest").to_string();
    oci.name(
        manifest,
        &[("org.opencontainers.image.ref.name", "localhost/dir:1")],
    );
    let layout = f.base.join("layout");
    oci.write_dir(&layout);
    let loaded = f.store.load(&layout).expect("load directory");
    assert_eq!(loaded[0].reference, "localhost/dir:1");
    assert_eq!(loaded[0].manifest_digest, manifest_digest);
    let pinned = format!("localhost/dir@{manifest_digest}");
    let img = f
        .store
        .resolve(&pinned)
        .expect("resolve by manifest digest");
    assert_eq!(img.reference, "localhost/dir:1");
    let meta = fs::metadata(img.layers[0].join("bin/tool")).expect("tool");
    assert_eq!(meta.permissions().mode() & 0o777, 0o755);
    assert_eq!(meta.mtime(), 1_700_000_000, "mtime preserved");
}

#[test]
fn oci_entry_named_only_by_tag_is_refused_before_storing_anything() {
    let f = Fixture::new();
    let layer = tar_of(&[file("a", b"a")]);
    let mut oci = Oci::default();
    let manifest = oci.image(&config(&[&layer], json!({})), &[(LAYER_TAR, layer.clone())]);
    oci.name(manifest, &[("org.opencontainers.image.ref.name", "latest")]);
    let archive = f.write("tagonly.tar", &oci.tar());
    let err = f.store.load(&archive).expect_err("a bare tag is no name");
    assert!(matches!(err, Error::UnnamedImage { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("only a tag"), "{err}");
    assert_eq!(f.count("blobs/sha256"), 0, "nothing committed");
    f.assert_pristine();
}

#[test]
fn shared_base_layer_is_unpacked_once_and_garbage_collected_last() {
    let f = Fixture::new();
    let base = tar_of(&[dir("usr/"), file("usr/base", b"base")]);
    let top_a = tar_of(&[file("a", b"a")]);
    let top_b = tar_of(&[file("b", b"b")]);
    let archive = f.write(
        "two.tar",
        &docker_save(&[
            SavedImage {
                tags: &["localhost/a:1"],
                config: config(&[&base, &top_a], json!({})),
                layers: vec![base.clone(), top_a.clone()],
            },
            SavedImage {
                tags: &["localhost/b:1"],
                config: config(&[&base, &top_b], json!({})),
                layers: vec![base.clone(), top_b.clone()],
            },
        ]),
    );
    assert_eq!(f.store.load(&archive).expect("load").len(), 2);
    let a = f.store.resolve("localhost/a:1").expect("resolve a");
    let marker = a.layers[1].join("marker-left-by-test");
    fs::write(&marker, b"m").expect("marker");
    let b = f.store.resolve("localhost/b:1").expect("resolve b");
    assert_eq!(a.layers[1], b.layers[1], "the shared base is one snapshot");
    assert!(marker.exists(), "the shared base was not unpacked again");
    assert_ne!(a.layers[0], b.layers[0]);
    assert_eq!(f.count("snapshots"), 3);

    f.store.remove("localhost/a:1").expect("remove a");
    assert!(!a.layers[0].exists(), "a's own layer is gone");
    assert!(
        b.layers[1].join("usr/base").exists(),
        "the shared base stays"
    );
    assert_eq!(f.count("snapshots"), 2);
    let b_again = f.store.resolve("localhost/b:1").expect("b still resolves");
    assert_eq!(b_again.layers, b.layers);

    let removed = f.store.remove("localhost/b:1").expect("remove b");
    assert_eq!(removed.reference, "localhost/b:1");
    assert_eq!(f.count("snapshots"), 0);
    assert_eq!(f.count("blobs/sha256"), 0);
    let err = f.store.remove("localhost/b:1").expect_err("already gone");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn tampered_blob_in_oci_archive_is_refused() {
    let f = Fixture::new();
    let layer = tar_of(&[file("a", b"good")]);
    let mut oci = Oci::default();
    let manifest = oci.image(&config(&[&layer], json!({})), &[(LAYER_TAR, layer.clone())]);
    oci.name(manifest, &[("io.containerd.image.name", "localhost/t:1")]);
    let hex = sha(&layer);
    let evil = tar_of(&[file("a", b"evil")]);
    assert_eq!(evil.len(), layer.len());
    oci.blobs.insert(hex.clone(), evil.clone());
    let archive = f.write("tampered.tar", &oci.tar());
    let err = f.store.load(&archive).expect_err("tampered layer");
    assert!(matches!(err, Error::BlobDigestMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("blobs/sha256/{hex}")), "{msg}");
    assert!(
        msg.contains(&digest(&layer)) && msg.contains(&digest(&evil)),
        "{msg}"
    );
    assert_eq!(f.count("blobs/sha256"), 0);
    f.assert_pristine();
}

#[test]
fn docker_save_layer_not_matching_its_diff_id_is_refused() {
    let f = Fixture::new();
    let layer = tar_of(&[file("a", b"good")]);
    let evil = tar_of(&[file("a", b"evil")]);
    let cfg = config(&[&layer], json!({}));
    let archive = f.write(
        "tampered.tar",
        &docker_save(&[SavedImage {
            tags: &["localhost/t:1"],
            config: cfg,
            layers: vec![evil.clone()],
        }]),
    );
    let err = f.store.load(&archive).expect_err("diff_id mismatch");
    assert!(matches!(err, Error::LayerDigestMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("layer.tar"), "names the layer: {msg}");
    assert!(
        msg.contains(&digest(&layer)) && msg.contains(&digest(&evil)),
        "{msg}"
    );
    assert_eq!(f.count("blobs/sha256"), 0);
    f.assert_pristine();
}

#[test]
fn tampered_blob_in_store_is_refused_at_unpack_and_leaves_no_snapshot() {
    let f = Fixture::new();
    let layer = tar_of(&[file("a", b"good")]);
    let cfg = config(&[&layer], json!({}));
    let archive = f.write(
        "ok.tar",
        &docker_save(&[SavedImage {
            tags: &["localhost/t:1"],
            config: cfg,
            layers: vec![layer.clone()],
        }]),
    );
    f.store.load(&archive).expect("load");
    let blob = f.store.root().join("blobs/sha256").join(sha(&layer));
    let evil = tar_of(&[file("a", b"evil")]);
    fs::write(&blob, &evil).expect("tamper");
    let err = f.store.resolve("localhost/t:1").expect_err("tampered blob");
    assert!(matches!(err, Error::BlobDigestMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&digest(&layer)) && msg.contains(&digest(&evil)),
        "{msg}"
    );
    assert_eq!(f.count("snapshots"), 0, "no snapshot from a tampered blob");
    assert_eq!(f.count("ingest"), 0, "no temp dir left behind");
}

#[test]
fn zstd_layers_of_several_frames_load_and_unpack() {
    let f = Fixture::new();
    let layer = tar_of(&[file("a", b"zstd content"), file("b", &[7u8; 3000])]);
    // A skippable frame, then the tar split over two frames (as zstd:chunked layers are).
    let level = ruzstd::encoding::CompressionLevel::Fastest;
    let mut compressed = vec![0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3];
    compressed.extend(ruzstd::encoding::compress_to_vec(&layer[..1024], level));
    compressed.extend(ruzstd::encoding::compress_to_vec(&layer[1024..], level));
    let mut oci = Oci::default();
    let manifest = oci.image(
        &config(&[&layer], json!({"Cmd": ["sh"]})),
        &[("application/vnd.oci.image.layer.v1.tar+zstd", compressed)],
    );
    oci.name(manifest, &[("io.containerd.image.name", "localhost/z:1")]);
    let archive = f.write("zstd.tar", &oci.tar());
    f.store.load(&archive).expect("zstd layers load");
    let img = f.store.resolve("localhost/z:1").expect("and unpack");
    assert_eq!(
        fs::read(img.layers[0].join("a")).expect("unpacked file"),
        b"zstd content"
    );
    assert_eq!(fs::read(img.layers[0].join("b")).expect("b").len(), 3000);
}

#[test]
fn import_rootfs_with_config_and_lookup_by_name_and_id() {
    let f = Fixture::new();
    let rootfs = tar_of(&[dir("bin/"), file("bin/hello", b"hello").mode(0o755)]);
    let tgz = f.write("rootfs.tar.gz", &gzip(&rootfs));
    let cfg = ImageConfig {
        entrypoint: Some(vec!["/bin/hello".into()]),
        env: vec!["A=1".into()],
        working_dir: Some("/tmp".into()),
        exposed_ports: vec!["8080".into()],
        ..Default::default()
    };
    let s = f
        .store
        .import(&tgz, "localhost/foo:1", cfg)
        .expect("import");
    assert_eq!(s.reference, "localhost/foo:1");
    assert!(s.created.is_some());
    let plain = f.write("rootfs.tar", &rootfs);
    let s2 = f
        .store
        .import(&plain, "foo", ImageConfig::default())
        .expect("import plain");
    assert_eq!(s2.reference, "docker.io/library/foo:latest");

    let img = f.store.resolve("localhost/foo:1").expect("resolve");
    assert_eq!(img.id, s.id);
    assert_eq!(img.config.entrypoint, Some(vec!["/bin/hello".to_string()]));
    assert_eq!(
        img.config.env,
        vec![DEFAULT_PATH_ENV.to_string(), "A=1".to_string()]
    );
    assert_eq!(img.config.working_dir.as_deref(), Some("/tmp"));
    assert_eq!(img.config.exposed_ports, vec!["8080/tcp"]);
    assert_eq!(
        fs::read(img.layers[0].join("bin/hello")).expect("file"),
        b"hello"
    );
    // Same rootfs, gzip or not: same DiffID, same snapshot.
    let img2 = f.store.resolve("foo").expect("resolve short name");
    assert_eq!(img2.layers, img.layers);
    assert_eq!(img2.config.env, vec![DEFAULT_PATH_ENV.to_string()]);

    let by_id = f.store.resolve(&s.id).expect("resolve by id");
    assert_eq!(by_id.reference, "localhost/foo:1");
    let hex = s.id.trim_start_matches("sha256:");
    let by_prefix = f.store.resolve(&hex[..12]).expect("resolve by id prefix");
    assert_eq!(by_prefix.id, s.id);
    let by_sha_prefix = f
        .store
        .resolve(&format!("sha256:{}", &hex[..8]))
        .expect("prefix");
    assert_eq!(by_sha_prefix.id, s.id);
    let removed = f
        .store
        .remove(&hex[..12])
        .expect("remove by id with one name");
    assert_eq!(removed.reference, "localhost/foo:1");
    assert_eq!(f.store.list().expect("list").len(), 1);
}

#[test]
fn import_refuses_non_tar_and_missing_files() {
    let f = Fixture::new();
    let junk = f.write("junk.tar", &[b'x'; 2048]);
    let err = f
        .store
        .import(&junk, "localhost/junk:1", ImageConfig::default())
        .expect_err("not a tar");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    let err = f
        .store
        .import(
            &f.base.join("nope.tar"),
            "localhost/x:1",
            ImageConfig::default(),
        )
        .expect_err("missing");
    assert!(matches!(err, Error::ArchiveNotFound { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(f.count("blobs/sha256"), 0);
    f.assert_pristine();
}

#[test]
fn load_refuses_unknown_archives() {
    let f = Fixture::new();
    let archive = f.write(
        "other.tar",
        &files_tar(&[("hello.txt".into(), b"hi".to_vec())]),
    );
    let err = f.store.load(&archive).expect_err("unknown format");
    assert!(matches!(err, Error::UnknownArchiveFormat { .. }), "{err}");
    let err = f
        .store
        .load(&f.base.join("missing.tar"))
        .expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    f.assert_pristine();
}

#[test]
fn missing_image_is_not_found_with_the_normalised_name() {
    let f = Fixture::new();
    let err = f.store.resolve("nope").expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string().contains("docker.io/library/nope:latest"),
        "{err}"
    );
    let err = f.store.resolve("Bad Name").expect_err("invalid");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

// ---- safe unpacking ----

fn assert_unsafe(err: &Error, entry: &str, needle: &str) {
    assert!(matches!(err, Error::UnsafeEntry { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let msg = err.to_string();
    assert!(msg.contains(entry), "names the entry {entry:?}: {msg}");
    assert!(
        msg.contains("blobs/sha256/"),
        "names the layer archive: {msg}"
    );
    assert!(msg.contains(needle), "says why ({needle}): {msg}");
}

fn assert_no_snapshot(f: &Fixture) {
    assert_eq!(f.count("snapshots"), 0, "no snapshot from a refused layer");
    assert_eq!(f.count("ingest"), 0, "no temp dir left behind");
}

#[test]
fn unpack_refuses_dotdot_entries() {
    let f = Fixture::new();
    let err = f
        .import_and_resolve(&tar_of(&[file("../x", b"escape"), file("ok", b"ok")]))
        .expect_err("../x");
    assert_unsafe(&err, "../x", "'..'");
    for p in [
        f.base.join("x"),
        f.store.root().join("x"),
        f.store.root().join("ingest/x"),
    ] {
        assert!(!p.exists(), "{} must not exist", p.display());
    }
    let err = f
        .import_and_resolve(&tar_of(&[file("a/../../../x", b"escape")]))
        .expect_err("nested ..");
    assert_unsafe(&err, "a/../../../x", "'..'");
    assert_no_snapshot(&f);
}

#[test]
fn unpack_puts_absolute_entries_inside_the_layer() {
    let f = Fixture::new();
    let outside = tempfile::tempdir().expect("outside");
    let abs = outside.path().join("abs-file");
    let img = f
        .import_and_resolve(&tar_of(&[file(abs.to_str().expect("utf8"), b"inside")]))
        .expect("absolute paths are made relative");
    assert!(!abs.exists(), "nothing written at the absolute host path");
    let inside = img.layers[0].join(abs.strip_prefix("/").expect("absolute"));
    assert_eq!(fs::read(inside).expect("inside the layer"), b"inside");
}

#[test]
fn unpack_never_writes_through_a_symlink_to_root() {
    let f = Fixture::new();
    let outside = tempfile::tempdir().expect("outside");
    // a -> /, then a/<outside>/passwd: following `a` would write into the host's tempdir.
    let rel = outside
        .path()
        .strip_prefix("/")
        .expect("absolute")
        .join("passwd");
    let entry = format!("a/{}", rel.display());
    let err = f
        .import_and_resolve(&tar_of(&[symlink("a", "/"), file(&entry, b"root::0:0")]))
        .expect_err("write through symlink");
    assert_unsafe(&err, &entry, "symlink");
    assert!(!outside.path().join("passwd").exists());
    assert_no_snapshot(&f);
}

#[test]
fn unpack_never_writes_through_a_symlinked_directory() {
    let f = Fixture::new();
    let outside = tempfile::tempdir().expect("outside");
    let target = outside.path().to_str().expect("utf8").to_string();
    let err = f
        .import_and_resolve(&tar_of(&[
            symlink("etc", &target),
            file("etc/passwd", b"root::0:0"),
        ]))
        .expect_err("write through symlink");
    assert_unsafe(&err, "etc/passwd", "symlink");
    assert!(!outside.path().join("passwd").exists());
    assert_no_snapshot(&f);
}

#[test]
fn unpack_refuses_hardlinks_leaving_the_layer() {
    let f = Fixture::new();
    let err = f
        .import_and_resolve(&tar_of(&[hardlink("shadow", "../../etc/shadow")]))
        .expect_err("hardlink escape");
    assert_unsafe(&err, "shadow", "'..'");
    assert_no_snapshot(&f);
}

#[test]
fn unpack_refuses_hardlinks_through_a_symlink() {
    let f = Fixture::new();
    let outside = tempfile::tempdir().expect("outside");
    let secret = outside.path().join("secret");
    fs::write(&secret, b"secret").expect("secret");
    let target = outside.path().to_str().expect("utf8").to_string();
    let err = f
        .import_and_resolve(&tar_of(&[symlink("s", &target), hardlink("h", "s/secret")]))
        .expect_err("hardlink through symlink");
    assert_unsafe(&err, "h", "symlink");
    assert_eq!(
        fs::metadata(&secret).expect("secret").nlink(),
        1,
        "no link made"
    );
    assert_no_snapshot(&f);
}

#[test]
fn unpack_allows_hardlinks_and_symlinks_inside_the_layer() {
    let f = Fixture::new();
    let img = f
        .import_and_resolve(&tar_of(&[
            dir("bin/"),
            file("bin/busybox", b"bb").mode(0o755),
            hardlink("bin/sh", "./bin/busybox"),
            symlink("bin/ls", "/bin/busybox"),
            symlink("etc", "/nonexistent/etc"),
        ]))
        .expect("safe links");
    let root = &img.layers[0];
    let a = fs::metadata(root.join("bin/busybox")).expect("busybox");
    let b = fs::metadata(root.join("bin/sh")).expect("sh");
    assert_eq!(a.ino(), b.ino(), "hardlink within the layer");
    assert_eq!(
        fs::read_link(root.join("bin/ls")).expect("symlink"),
        PathBuf::from("/bin/busybox"),
        "symlink targets are kept verbatim"
    );
    assert!(fs::symlink_metadata(root.join("etc"))
        .expect("etc")
        .file_type()
        .is_symlink());
}

#[test]
fn unpack_preserves_ownership_setuid_and_creates_devices_as_root() {
    needs_root!("chown, setuid and mknod");
    let f = Fixture::new();
    let img = f
        .import_and_resolve(&tar_of(&[
            dir("bin/").owner(0, 0).mode(0o711).mtime(1_600_000_000),
            file("bin/su", b"su").mode(0o4755).owner(1234, 5678),
            symlink("bin/link", "su").owner(42, 43),
            dir("dev/"),
            chardev("dev/null", 1, 3),
            fifo("dev/pipe"),
        ]))
        .expect("unpack");
    let root = &img.layers[0];
    let su = fs::symlink_metadata(root.join("bin/su")).expect("su");
    assert_eq!((su.uid(), su.gid()), (1234, 5678));
    assert_eq!(su.mode() & 0o7777, 0o4755, "setuid kept after chown");
    let link = fs::symlink_metadata(root.join("bin/link")).expect("link");
    assert!(link.file_type().is_symlink());
    assert_eq!(
        (link.uid(), link.gid()),
        (42, 43),
        "lchown, not chown of the target"
    );
    let bin = fs::metadata(root.join("bin")).expect("bin");
    assert_eq!(bin.mode() & 0o7777, 0o711);
    assert_eq!(bin.mtime(), 1_600_000_000, "directory mtime applied last");
    let null = fs::symlink_metadata(root.join("dev/null")).expect("null");
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    let pipe = fs::symlink_metadata(root.join("dev/pipe")).expect("pipe");
    assert!(pipe.file_type().is_fifo());
}

#[test]
fn concurrent_imports_from_two_handles_keep_every_name() {
    let f = Fixture::new();
    let rootfs = f.write("rootfs.tar", &tar_of(&[file("a", b"a")]));
    let root = f.store.root().to_path_buf();
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let root = root.clone();
            let rootfs = rootfs.clone();
            std::thread::spawn(move || {
                let store = ImageStore::open(root).expect("open");
                for i in 0..5 {
                    store
                        .import(
                            &rootfs,
                            &format!("localhost/t{t}:{i}"),
                            ImageConfig::default(),
                        )
                        .expect("import");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    let names = f.store.list().expect("list");
    assert_eq!(names.len(), 10, "no update was lost: {names:?}");
    assert_eq!(f.count("ingest"), 0);
}
