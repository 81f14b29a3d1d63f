//! `tandem cp` on a real pod, as root: a directory out and in with its modes and an inside
//! symlink, a file into a directory, a missing path, and a container that answers with a hostile
//! archive (its own `tar` replaced): `..` and absolute entries, symlinks out of the copy and a
//! write through a symlink never reach anything outside the destination.

mod support;

use std::io::Write;
use std::process::Stdio;

use support::{require_root, stderr, stdout, wait_for, Env, IMAGE};

/// A tar archive with raw entry names (the tar crate refuses `..` through its safe setters).
fn hostile_archive(id: u32) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]| {
        let mut h = tar::Header::new_old();
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            h.set_link_name(l).expect("a link name");
        }
        h.set_cksum();
        b.append(&h, data).expect("append");
    };
    add("d/", tar::EntryType::Directory, None, b"");
    add("d/ok", tar::EntryType::Regular, None, b"fine\n");
    add(
        &format!("d/../../escape-{id}"),
        tar::EntryType::Regular,
        None,
        b"x",
    );
    add(
        &format!("/tmp/abs-escape-{id}"),
        tar::EntryType::Regular,
        None,
        b"x",
    );
    add("d/link", tar::EntryType::Symlink, Some("/tmp"), b"");
    add(
        &format!("d/link/through-{id}"),
        tar::EntryType::Regular,
        None,
        b"x",
    );
    add("d/dev", tar::EntryType::Char, None, b"");
    add("d/inner", tar::EntryType::Symlink, Some("."), b"");
    add("d/inner/again", tar::EntryType::Regular, None, b"x");
    b.into_inner().expect("the archive")
}

#[test]
fn directories_go_both_ways_and_a_hostile_archive_stays_inside_the_destination() {
    if require_root("directories_go_both_ways_and_a_hostile_archive_stays_inside_the_destination")
        .is_none()
    {
        return;
    }
    let env = Env::new();
    let id = std::process::id();
    let pod = format!("cp-{id}");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, 'mkdir -p /data/d/sub && echo one > /data/d/a && echo two > /data/d/sub/b && chmod 750 /data/d/sub && ln -s ../a /data/d/sub/to-a && exec sleep 3600']\n"
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the pod to run", 30, || {
        (env.pod_json(&pod)["status"]["phase"] == "Running").then_some(())
    });
    let work = tempfile::tempdir().expect("tempdir");
    let here = work.path();

    // Out: the directory, its modes and its inside symlink.
    let dest = here.join("copy");
    let out = env.tandem(&[
        "cp",
        &format!("{pod}:/data/d"),
        dest.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(dest.join("a")).expect("a"), "one\n");
    assert_eq!(
        std::fs::read_to_string(dest.join("sub/b")).expect("b"),
        "two\n"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("sub/to-a")).expect("via link"),
        "one\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dest.join("sub"))
        .expect("sub")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o750);
    // Into an existing directory: under its own name.
    let out = env.tandem(&[
        "cp",
        &format!("{pod}:/data/d/a"),
        here.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(here.join("a")).expect("a"), "one\n");

    // In: back under another name, and a file into a directory.
    let out = env.tandem(&[
        "cp",
        dest.to_str().expect("utf-8"),
        &format!("{pod}:/data/back"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.tandem(&[
        "cp",
        here.join("a").to_str().expect("utf-8"),
        &format!("{pod}:/tmp/"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.tandem(&[
        "exec", &pod, "--", "sh", "-c",
        "cat /data/back/sub/b /data/back/sub/to-a /tmp/a; readlink /data/back/sub/to-a; stat -c %a /data/back/sub",
    ]);
    assert_eq!(
        stdout(&out),
        "two\none\none\n../a\n750\n",
        "{}",
        stderr(&out)
    );

    let out = env.tandem(&[
        "cp",
        &format!("{pod}:/no/such/path"),
        here.join("x").to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("No such file or directory"),
        "{}",
        stderr(&out)
    );

    // A container whose tar answers with a hostile archive.
    let mut put = env
        .cmd()
        .args(["exec", "-i", &pod, "--", "sh", "-c", "cat > /tmp/evil.tar && mkdir -p /usr/local/bin && printf '#!/bin/sh\\ncat /tmp/evil.tar\\n' > /usr/local/bin/tar && chmod +x /usr/local/bin/tar"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn exec");
    put.stdin
        .take()
        .expect("stdin")
        .write_all(&hostile_archive(id))
        .expect("write");
    assert!(put.wait().expect("wait").success());
    let nest = here.join("n/b");
    std::fs::create_dir_all(&nest).expect("mkdir");
    let dest = nest.join("hostile");
    let out = env.tandem(&[
        "cp",
        &format!("{pod}:/data/d"),
        dest.to_str().expect("utf-8"),
    ]);
    let err = stderr(&out);
    assert_eq!(
        std::fs::read_to_string(dest.join("ok")).expect("ok"),
        "fine\n"
    );
    for escaped in [
        here.join(format!("n/escape-{id}")),
        here.join(format!("escape-{id}")),
        format!("/tmp/abs-escape-{id}").into(),
        format!("/tmp/through-{id}").into(),
    ] {
        assert!(
            !escaped.exists(),
            "{} was written: {err}",
            escaped.display()
        );
    }
    assert!(
        err.contains("skipping symlink: \"d/link\" -> \"/tmp\""),
        "{err}"
    );
    assert!(err.contains("is not under"), "{err}");
    assert!(
        err.contains("a device is not copied") || err.contains("skipping \"d/dev\""),
        "{err}"
    );
    // The write through the inside symlink is refused, and said so.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is a symlink; tandem cp does not write through one"),
        "{err}"
    );
}
