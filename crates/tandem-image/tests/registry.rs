//! Pull and push against a real registry: Debian's `docker-registry` (the CNCF distribution
//! registry) started per test on 127.0.0.1 (`tandem_testkit::Registry`).
//! Tests print `skipped: …` when the registry binary is not installed (tools/setup.sh installs it).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::json;
use support::*;
use tandem_image::{
    AuthFile, Credentials, Error, ImageConfig, ImageStore, Progress, RegistriesConf,
    RegistryOptions,
};
use tandem_testkit::Registry;
use tempfile::TempDir;

macro_rules! needs_registry {
    ($login:expr) => {
        if let Some(why) = tandem_testkit::registry_missing($login) {
            tandem_testkit::skip(&why);
            return;
        }
    };
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Options for an insecure (plain HTTP) registry given through registries.conf.
fn insecure(reg: &Registry) -> RegistryOptions {
    let conf = format!(
        "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
        reg.host()
    );
    RegistryOptions {
        registries: RegistriesConf::parse(&conf, Path::new("test-registries.conf")).expect("conf"),
        ..RegistryOptions::default()
    }
}

fn with_login(mut opts: RegistryOptions, host: &str, user: &str, pass: &str) -> RegistryOptions {
    let doc = json!({"auths": {host: {"username": user, "password": pass}}});
    let mut creds = Credentials::new();
    creds.push(AuthFile::parse(doc.to_string().as_bytes(), "test auth").expect("auth"));
    opts.credentials = creds;
    opts
}

struct Stores {
    dir: TempDir,
}

impl Stores {
    fn new() -> Self {
        Stores {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn open(&self, name: &str) -> ImageStore {
        ImageStore::open(self.dir.path().join(name)).expect("open store")
    }
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::write(&p, bytes).expect("write");
        p
    }
}

fn count(store: &ImageStore, sub: &str) -> usize {
    fs::read_dir(store.root().join(sub)).expect("dir").count()
}

/// Records progress events.
#[derive(Default)]
struct Recorder(Mutex<Vec<Progress>>);

impl Recorder {
    fn cb(&self) -> impl Fn(Progress) + Send + Sync + '_ {
        move |p| self.0.lock().expect("lock").push(p)
    }
    fn events(&self) -> Vec<Progress> {
        self.0.lock().expect("lock").clone()
    }
}

/// A three-layer image (plain, gzip, zstd) loaded from an OCI layout under `name`.
fn load_three_layer_image(stores: &Stores, store: &ImageStore, name: &str) -> Vec<Vec<u8>> {
    let l1 = tar_of(&[dir("etc/"), file("etc/os", b"base")]);
    let l2 = tar_of(&[file("app/data", &[1u8; 200_000])]);
    let l3 = tar_of(&[file("app/marker", b"top layer")]);
    let level = ruzstd::encoding::CompressionLevel::Fastest;
    let mut oci = Oci::default();
    let manifest = oci.image(
        &config(&[&l1, &l2, &l3], json!({"Cmd": ["/app/run"]})),
        &[
            (LAYER_TAR, l1.clone()),
            (LAYER_GZIP, gzip(&l2)),
            (
                "application/vnd.oci.image.layer.v1.tar+zstd",
                ruzstd::encoding::compress_to_vec(&l3[..], level),
            ),
        ],
    );
    oci.name(manifest, &[("io.containerd.image.name", name)]);
    let archive = stores.file("layout.tar", &oci.tar());
    store.load(&archive).expect("load");
    vec![l1, l2, l3]
}

#[test]
fn push_then_pull_by_tag_and_by_digest_with_progress() {
    needs_registry!(false);
    let reg = Registry::start(None);
    let stores = Stores::new();
    let src = stores.open("src");
    let local = "localhost/three:1";
    load_three_layer_image(&stores, &src, local);
    let opts = insecure(&reg);
    let rt = rt();
    let dest = format!("{}/team/three:v1", reg.host());
    let pushed = rt
        .block_on(src.push(local, Some(&dest), &opts, &tandem_image::progress::silent))
        .expect("push");
    assert_eq!(pushed.blobs_pushed, 4, "3 layers + config");
    let local_summary = src.lookup(local).expect("lookup").expect("present");
    assert_eq!(pushed.manifest_digest, local_summary.manifest_digest);

    // By tag, into an empty store.
    let dst = stores.open("dst");
    let rec = Recorder::default();
    let report = rt
        .block_on(dst.pull(&dest, &opts, &rec.cb()))
        .expect("pull by tag");
    assert!(!report.up_to_date);
    assert_eq!(report.blobs_downloaded, 3);
    assert_eq!(report.image.manifest_digest, pushed.manifest_digest);
    assert_eq!(report.image.id, local_summary.id);
    let img = dst.resolve(&dest).expect("resolve");
    assert_eq!(img.layers.len(), 3);
    assert_eq!(
        fs::read(img.layers[0].join("app/marker")).expect("zstd layer unpacked"),
        b"top layer"
    );
    assert_eq!(
        fs::read(img.layers[1].join("app/data"))
            .expect("gzip layer")
            .len(),
        200_000
    );
    assert_eq!(img.config.cmd, Some(vec!["/app/run".to_string()]));
    let events = rec.events();
    assert!(matches!(events.first(), Some(Progress::Resolved { blobs, .. }) if blobs.len() == 4));
    let done = events
        .iter()
        .filter(|e| matches!(e, Progress::Done { .. }))
        .count();
    assert_eq!(done, 4, "one Done per layer and the config: {events:?}");
    assert!(events
        .iter()
        .any(|e| matches!(e, Progress::Bytes { done, total, .. } if done == total && *total > 0)));
    assert_eq!(count(&dst, "ingest"), 0, "no temp file left");

    // Again: nothing to download.
    let again = rt
        .block_on(dst.pull(&dest, &opts, &tandem_image::progress::silent))
        .expect("again");
    assert!(again.up_to_date);
    assert_eq!(again.blobs_downloaded, 0);

    // By digest, into another empty store.
    let by_digest = format!("{}/team/three@{}", reg.host(), pushed.manifest_digest);
    let third = stores.open("third");
    let report = rt
        .block_on(third.pull(&by_digest, &opts, &tandem_image::progress::silent))
        .expect("pull by digest");
    assert_eq!(report.image.reference, by_digest);
    assert_eq!(report.image.manifest_digest, pushed.manifest_digest);
    third.resolve(&by_digest).expect("resolves by digest");

    // A digest the registry does not have.
    let missing = format!("{}/team/three@sha256:{}", reg.host(), "0".repeat(64));
    let err = rt
        .block_on(third.pull(&missing, &opts, &tandem_image::progress::silent))
        .expect_err("unknown digest");
    assert!(matches!(err, Error::ManifestUnknown { .. }), "{err}");
}

#[test]
fn plain_http_registry_needs_insecure_or_tls_verify_false() {
    needs_registry!(false);
    let reg = Registry::start(None);
    let stores = Stores::new();
    let store = stores.open("s");
    let rt = rt();
    let err = rt
        .block_on(store.pull(
            &format!("{}/x:1", reg.host()),
            &RegistryOptions::default(),
            &tandem_image::progress::silent,
        ))
        .expect_err("https to a plain-HTTP registry fails");
    assert!(matches!(err, Error::Registry { .. }), "{err}");
    assert!(err.to_string().contains("--tls-verify=false"), "{err}");
    let opts = RegistryOptions {
        tls_verify: false,
        ..RegistryOptions::default()
    };
    let err = rt
        .block_on(store.pull(
            &format!("{}/x:1", reg.host()),
            &opts,
            &tandem_image::progress::silent,
        ))
        .expect_err("reaches the registry, which has no such image");
    assert!(matches!(err, Error::ManifestUnknown { .. }), "{err}");
    assert!(store.list().expect("list").is_empty());
}

#[test]
fn multi_platform_index_pulls_the_host_platform() {
    needs_registry!(false);
    let reg = Registry::start(None);
    let stores = Stores::new();
    let src = stores.open("src");
    let opts = insecure(&reg);
    let rt = rt();
    // Two single-platform images pushed by tag; then an index over them.
    let mut manifests = vec![];
    for (arch, marker) in [("s390x", "other"), (host_arch(), "host")] {
        let tar = stores.file(
            &format!("{marker}.tar"),
            &tar_of(&[file("platform", marker.as_bytes())]),
        );
        let local = format!("localhost/multi:{marker}");
        src.import(&tar, &local, ImageConfig::default())
            .expect("import");
        let dest = format!("{}/multi:{marker}", reg.host());
        let pushed = rt
            .block_on(src.push(&local, Some(&dest), &opts, &tandem_image::progress::silent))
            .expect("push");
        let size = fs::metadata(
            src.root()
                .join("blobs/sha256")
                .join(pushed.manifest_digest.trim_start_matches("sha256:")),
        )
        .expect("manifest blob")
        .len();
        manifests.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": pushed.manifest_digest,
            "size": size,
            "platform": {"os": "linux", "architecture": arch},
        }));
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))
    .expect("json");
    let index_digest = digest(&index);
    let client = oci_client::Client::new(oci_client::client::ClientConfig {
        protocol: oci_client::client::ClientProtocol::Http,
        ..Default::default()
    });
    let index_ref: oci_client::Reference =
        format!("{}/multi:all", reg.host()).parse().expect("ref");
    rt.block_on(client.push_manifest_raw(
        &index_ref,
        index.clone(),
        http::HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
    ))
    .expect("push index");

    let dst = stores.open("dst");
    let name = format!("{}/multi:all", reg.host());
    let report = rt
        .block_on(dst.pull(&name, &opts, &tandem_image::progress::silent))
        .expect("pull index");
    assert_eq!(report.resolved_digest, index_digest);
    let img = dst.resolve(&name).expect("resolve");
    assert_eq!(
        fs::read(img.layers[0].join("platform")).expect("file"),
        b"host",
        "the host's platform was chosen"
    );
    let inspect = dst.inspect(&name).expect("inspect");
    assert_eq!(inspect.index_digest.as_deref(), Some(index_digest.as_str()));
    // The index digest finds the image too.
    let by_index = format!("{}/multi@{index_digest}", reg.host());
    assert!(dst.lookup(&by_index).expect("lookup").is_some());
}

#[test]
fn htpasswd_registry_auth_success_and_clear_failures() {
    needs_registry!(true);
    let reg = Registry::start(Some(("alice", "s3cret")));
    let stores = Stores::new();
    let src = stores.open("src");
    let tar = stores.file("a.tar", &tar_of(&[file("hello", b"world")]));
    src.import(&tar, "localhost/private:1", ImageConfig::default())
        .expect("import");
    let rt = rt();
    let dest = format!("{}/private/app:1", reg.host());

    let anonymous = insecure(&reg);
    let err = rt
        .block_on(src.push(
            "localhost/private:1",
            Some(&dest),
            &anonymous,
            &tandem_image::progress::silent,
        ))
        .expect_err("anonymous push");
    assert!(
        matches!(
            err,
            Error::RegistryUnauthorized {
                had_credentials: false,
                ..
            }
        ),
        "{err}"
    );

    let good = with_login(insecure(&reg), &reg.host(), "alice", "s3cret");
    rt.block_on(src.push(
        "localhost/private:1",
        Some(&dest),
        &good,
        &tandem_image::progress::silent,
    ))
    .expect("push with credentials");

    let dst = stores.open("dst");
    let err = rt
        .block_on(dst.pull(&dest, &anonymous, &tandem_image::progress::silent))
        .expect_err("anonymous pull");
    assert!(
        matches!(
            err,
            Error::RegistryUnauthorized {
                had_credentials: false,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("needs credentials"), "{err}");
    assert_eq!(err.kind(), tandem_image::ErrorKind::FailedPrecondition);

    let wrong = with_login(insecure(&reg), &reg.host(), "alice", "wrong");
    let err = rt
        .block_on(dst.pull(&dest, &wrong, &tandem_image::progress::silent))
        .expect_err("wrong password");
    assert!(
        matches!(
            err,
            Error::RegistryUnauthorized {
                had_credentials: true,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("rejected"), "{err}");
    assert!(
        !err.to_string().contains("wrong"),
        "never print the password: {err}"
    );

    rt.block_on(dst.pull(&dest, &good, &tandem_image::progress::silent))
        .expect("pull with credentials");
    let img = dst.resolve(&dest).expect("resolve");
    assert_eq!(
        fs::read(img.layers[0].join("hello")).expect("file"),
        b"world"
    );
}

#[test]
fn tampered_blob_in_the_registry_is_refused_and_not_stored() {
    needs_registry!(false);
    let reg = Registry::start(None);
    let stores = Stores::new();
    let src = stores.open("src");
    let layer = tar_of(&[file("f", &[5u8; 4096])]);
    let tar = stores.file("t.tar", &layer);
    src.import(&tar, "localhost/t:1", ImageConfig::default())
        .expect("import");
    let opts = insecure(&reg);
    let rt = rt();
    let dest = format!("{}/t:1", reg.host());
    rt.block_on(src.push(
        "localhost/t:1",
        Some(&dest),
        &opts,
        &tandem_image::progress::silent,
    ))
    .expect("push");
    // Same size, one byte changed, behind the registry's back.
    let blob = reg.blob_file(&digest(&layer));
    let mut bytes = fs::read(&blob).expect("registry blob");
    bytes[600] ^= 0xff;
    fs::write(&blob, bytes).expect("tamper");

    let dst = stores.open("dst");
    let err = rt
        .block_on(dst.pull(&dest, &opts, &tandem_image::progress::silent))
        .expect_err("tampered");
    assert!(matches!(err, Error::BlobDigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&digest(&layer)), "{err}");
    assert!(dst.list().expect("list").is_empty(), "not named");
    assert_eq!(count(&dst, "snapshots"), 0, "not unpacked");
    assert_eq!(count(&dst, "ingest"), 0, "no temp file left");
    assert!(
        !dst.root().join("blobs/sha256").join(sha(&layer)).exists(),
        "the bad blob is not in the store"
    );
}

#[test]
fn malicious_layers_from_a_registry_are_refused_with_nothing_written_outside() {
    needs_registry!(false);
    let reg = Registry::start(None);
    let stores = Stores::new();
    let src = stores.open("src");
    let opts = insecure(&reg);
    let rt = rt();
    let outside = tempfile::tempdir().expect("outside");
    let victim = outside.path().join("victim");
    fs::create_dir(&victim).expect("victim dir");
    let target = victim.display().to_string();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot",
            tar_of(&[file(
                "../../../../../../../../tmp/tandem-escape-dotdot",
                b"x",
            )]),
        ),
        (
            "symlink",
            tar_of(&[symlink("link", &target), file("link/pwned", b"x")]),
        ),
        ("hardlink", tar_of(&[hardlink("shadow", "/etc/shadow")])),
    ];
    for (name, layer) in cases {
        let tar = stores.file(&format!("{name}.tar"), &layer);
        let local = format!("localhost/evil:{name}");
        src.import(&tar, &local, ImageConfig::default())
            .expect("import checks structure only");
        let dest = format!("{}/evil:{name}", reg.host());
        rt.block_on(src.push(&local, Some(&dest), &opts, &tandem_image::progress::silent))
            .expect("push");
        let dst = stores.open(&format!("dst-{name}"));
        let err = rt
            .block_on(dst.pull(&dest, &opts, &tandem_image::progress::silent))
            .expect_err(name);
        assert!(matches!(err, Error::UnsafeEntry { .. }), "{name}: {err}");
        assert!(dst.list().expect("list").is_empty(), "{name}: not named");
        assert_eq!(count(&dst, "snapshots"), 0, "{name}: no snapshot");
        assert_eq!(
            count(&dst, "ingest"),
            0,
            "{name}: nothing half-unpacked left"
        );
    }
    assert!(!Path::new("/tmp/tandem-escape-dotdot").exists());
    assert_eq!(
        fs::read_dir(&victim).expect("victim").count(),
        0,
        "nothing written through the symlink"
    );
}

#[test]
fn concurrent_pulls_of_one_image_download_it_once() {
    needs_registry!(false);
    let reg = Registry::start(None);
    let stores = Stores::new();
    let src = stores.open("src");
    load_three_layer_image(&stores, &src, "localhost/c:1");
    let opts = insecure(&reg);
    let rt = rt();
    let dest = format!("{}/c:1", reg.host());
    rt.block_on(src.push(
        "localhost/c:1",
        Some(&dest),
        &opts,
        &tandem_image::progress::silent,
    ))
    .expect("push");
    let a = stores.open("dst");
    let b = ImageStore::open(a.root()).expect("second handle");
    let (ra, rb) = rt.block_on(async {
        tokio::join!(
            a.pull(&dest, &opts, &tandem_image::progress::silent),
            b.pull(&dest, &opts, &tandem_image::progress::silent)
        )
    });
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert_eq!(
        ra.blobs_downloaded + rb.blobs_downloaded,
        3,
        "each layer once"
    );
    assert!(ra.up_to_date || rb.up_to_date);
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
