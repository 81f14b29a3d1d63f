//! `tandem top pod` on real containers, as root: a container burning CPU shows it and an idle
//! one does not; memory written to a tmpfs shows in the working set; pod lines sum their
//! containers.

mod support;

use support::{require_root, stderr, stdout, wait_for, Env, IMAGE};

/// The figures of a `top` line: millicores and MiB.
fn figures(line: &str) -> (u64, u64) {
    let cells: Vec<&str> = line.split_whitespace().collect();
    let n = cells.len();
    let m = cells[n - 2]
        .trim_end_matches('m')
        .parse()
        .expect("millicores");
    let mi = cells[n - 1].trim_end_matches("Mi").parse().expect("MiB");
    (m, mi)
}

#[test]
fn a_busy_container_shows_its_cpu_and_a_filled_tmpfs_its_memory() {
    if require_root("a_busy_container_shows_its_cpu_and_a_filled_tmpfs_its_memory").is_none() {
        return;
    }
    let env = Env::new();
    let pod = format!("top-{}", std::process::id());
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  containers:\n    - name: burn\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, 'while true; do :; done']\n    - name: idle\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, 'head -c 41943040 /dev/zero > /dev/shm/fill && echo filled && exec sleep 3600']\n"
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the tmpfs to be filled", 30, || {
        stdout(&env.tandem(&["logs", &pod, "-c", "idle"]))
            .contains("filled")
            .then_some(())
    });
    let out = env.tandem(&["top", "pod", &pod, "--containers", "--sort-by", "cpu"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    );
    assert!(lines[1].contains(" burn "), "sorted by CPU: {text}");
    let (burn_cpu, _) = figures(lines[1]);
    let (idle_cpu, idle_mem) = figures(lines[2]);
    // A busy loop gets a good share of a core even on a loaded 2-core machine.
    assert!(burn_cpu >= 100, "{text}");
    assert!(idle_cpu < burn_cpu / 2, "{text}");
    assert!(idle_mem >= 38, "40 MiB on /dev/shm: {text}");

    let out = env.tandem(&["top", "pod", &pod]);
    let text = stdout(&out);
    let line = text.lines().nth(1).unwrap_or_default();
    assert!(line.starts_with(&pod), "{text}");
    let (cpu, mem) = figures(line);
    assert!(cpu >= 100 && mem >= 38, "{text}");

    let out = env.tandem(&["top", "pod", "nope"]);
    assert!(
        stderr(&out).contains("pods \"nope\" not found"),
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["top", "node"]);
    assert!(
        stderr(&out).contains("tandem top shows pods"),
        "{}",
        stderr(&out)
    );
}
