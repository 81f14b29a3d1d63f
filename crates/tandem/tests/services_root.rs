//! Services on real containers, as root, traffic only to the pods' own addresses, the Services'
//! cluster IPs and 127.0.0.1: a client pod reaches both replicas of a Deployment through the
//! cluster IP; a replica whose readiness probe fails leaves the rotation and comes back when it
//! passes; with `sessionAffinity: ClientIP` one client keeps its replica; a node port answers on 127.0.0.1; a Service with no ready endpoint refuses at once;
//! deleting it all leaves no rule, reservation or proxy behind. Addresses and ports are the
//! machine's: two stores never get the same one.

mod support;

use support::{require_root, stderr, stdout, wait_for, Env, IMAGE};

fn run_d(env: &Env, yaml: &str) -> std::process::Output {
    let path = env.root.path().join("app.yaml");
    std::fs::write(&path, yaml).expect("write manifest");
    env.tandem(&["run", "-d", "-f", path.to_str().expect("utf-8")])
}

/// `tandem run -d --service-cluster-ip-range RANGE -f FILE`.
fn run_in_range(env: &Env, range: &str, file: &str) -> std::process::Output {
    env.tandem(&["run", "-d", "--service-cluster-ip-range", range, "-f", file])
}

/// Where cluster IPs and node ports are reserved machine-wide, one file each.
const RESERVATIONS: &str = "/run/tandem/service-reservations";

fn service_json(env: &Env, name: &str) -> serde_json::Value {
    let out = env.tandem(&["get", "service", name, "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("service json")
}

/// The ready addresses of a Service's Endpoints object.
fn ready_addresses(env: &Env, name: &str) -> Vec<String> {
    let out = env.tandem(&["get", "endpoints", name, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let mut ips: Vec<String> = v["subsets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["ip"].as_str().map(str::to_string))
        .collect();
    ips.sort();
    ips
}

/// What `wget` printed for each of `n` requests from the client pod, one line each.
fn fetch_from(env: &Env, client: &str, url: &str, n: usize) -> Vec<String> {
    let script = format!("for i in $(seq {n}); do wget -qO- {url} || echo FAILED; done");
    let out = env.tandem(&["exec", client, "--", "sh", "-c", &script]);
    stdout(&out).lines().map(str::to_string).collect()
}

fn web_pods(env: &Env) -> Vec<String> {
    let out = env.tandem(&["get", "pods", "-o", "name"]);
    stdout(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("pod/"))
        .filter(|n| n.starts_with("web-"))
        .map(str::to_string)
        .collect()
}

fn proxies(env: &Env) -> usize {
    let root = env.root.path().display().to_string();
    support::processes_mentioning("__proxy")
        .iter()
        .filter(|p| p.contains(&root))
        .count()
}

/// The name of the store's nftables table, which its proxy records while the table exists.
fn table_of(env: &Env) -> String {
    wait_for("the store's table", 30, || {
        std::fs::read_to_string(env.root.path().join("services/proxy.table")).ok()
    })
}

/// Whether the kernel has that table (`nft list table` fails for one that does not exist).
fn table_exists(name: &str) -> bool {
    std::process::Command::new("nft")
        .args(["list", "table", "inet", name])
        .output()
        .expect("nft")
        .status
        .success()
}

const APP: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n        - name: httpd\n          image: IMAGE\n          imagePullPolicy: Never\n          command: [sh, -c, \"mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www\"]\n          ports: [{name: http, containerPort: 8080}]\n          readinessProbe:\n            exec: {command: [sh, -c, \"test ! -f /tmp/unready\"]}\n            periodSeconds: 1\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: NodePort\n  selector: {app: web}\n  ports: [{name: web, port: 80, targetPort: http}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: sticky}\nspec:\n  selector: {app: web}\n  sessionAffinity: ClientIP\n  ports: [{port: 80, targetPort: http}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: client}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n    - name: c\n      image: IMAGE\n      imagePullPolicy: Never\n      command: [sleep, \"3600\"]\n";

#[test]
fn traffic_follows_readiness_through_the_cluster_ip() {
    if require_root("traffic_follows_readiness_through_the_cluster_ip").is_none() {
        return;
    }
    let env = Env::new();
    let out = run_d(&env, &APP.replace("IMAGE", IMAGE));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("service/web created"),
        "{}",
        stdout(&out)
    );
    let svc = service_json(&env, "web");
    let ip = svc["spec"]["clusterIP"]
        .as_str()
        .expect("a cluster IP")
        .to_string();
    assert!(ip.starts_with("10.96."), "{ip}");
    let table = table_of(&env);
    assert!(table_exists(&table), "{table}");
    let node_port = svc["spec"]["ports"][0]["nodePort"]
        .as_u64()
        .expect("a node port");
    assert!((30000..=32767).contains(&node_port), "{node_port}");
    let both = wait_for("two ready endpoints", 60, || {
        let ips = ready_addresses(&env, "web");
        (ips.len() == 2).then_some(ips)
    });
    // kubectl's columns, the endpoint port resolved from the container port's name.
    let table = stdout(&env.tandem(&["get", "endpoints", "web"]));
    assert!(table.contains(&format!("{}:8080", both[0])), "{table}");
    // kubectl's describe: the ports, the node port and the ready endpoints of each.
    let described = stdout(&env.tandem(&["describe", "svc", "web"]));
    let field = |name: &str| {
        described
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(field("Type"), "NodePort", "{described}");
    assert_eq!(field("IP"), ip, "{described}");
    assert_eq!(field("Port"), "web  80/TCP", "{described}");
    assert_eq!(
        field("NodePort"),
        format!("web  {node_port}/TCP"),
        "{described}"
    );
    for address in &both {
        assert!(
            field("Endpoints").contains(&format!("{address}:8080")),
            "{described}"
        );
    }
    let pods = web_pods(&env);
    assert_eq!(pods.len(), 2, "{pods:?}");
    wait_for("the client pod", 60, || {
        let out = env.tandem(&["exec", "client", "--", "true"]);
        out.status.success().then_some(())
    });

    // Both replicas answer through the cluster IP.
    let url = format!("http://{ip}/");
    let seen = fetch_from(&env, "client", &url, 30);
    for p in &pods {
        assert!(seen.contains(p), "{p} never answered: {seen:?}");
    }
    assert!(!seen.iter().any(|l| l == "FAILED"), "{seen:?}");

    // `sessionAffinity: ClientIP`: every connection of one client goes to one replica.
    let sticky_ip = service_json(&env, "sticky")["spec"]["clusterIP"]
        .as_str()
        .expect("a cluster IP")
        .to_string();
    let sticky = format!("http://{sticky_ip}/");
    wait_for("two ready endpoints of sticky", 60, || {
        (ready_addresses(&env, "sticky").len() == 2).then_some(())
    });
    let seen = fetch_from(&env, "client", &sticky, 20);
    assert!(pods.contains(&seen[0]), "{seen:?}");
    assert!(seen.iter().all(|l| *l == seen[0]), "{seen:?}");

    // One replica's readiness fails: it leaves the rotation, and comes back.
    let out = env.tandem(&["exec", &pods[0], "--", "touch", "/tmp/unready"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the unready endpoint to leave", 30, || {
        (ready_addresses(&env, "web").len() == 1 && ready_addresses(&env, "sticky").len() == 1)
            .then_some(())
    });
    let seen = fetch_from(&env, "client", &url, 20);
    assert!(seen.iter().all(|l| *l == pods[1]), "{seen:?}");
    // The sticky client now goes to the replica left (remembered there)...
    let seen = fetch_from(&env, "client", &sticky, 5);
    assert!(seen.iter().all(|l| *l == pods[1]), "{seen:?}");
    let out = env.tandem(&["exec", &pods[0], "--", "rm", "/tmp/unready"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the endpoint to come back", 30, || {
        (ready_addresses(&env, "web").len() == 2 && ready_addresses(&env, "sticky").len() == 2)
            .then_some(())
    });
    let seen = fetch_from(&env, "client", &url, 30);
    assert!(seen.contains(&pods[0]), "{seen:?}");
    // ...and stays with it once both are back, though the table was written anew meanwhile:
    // the client's address is still in the replica's affinity set before it connects again.
    let ip_of = |pod: &str| {
        env.pod_json(pod)["status"]["podIP"]
            .as_str()
            .map(str::to_string)
    };
    let (client_ip, kept_ip) = (ip_of("client").expect("ip"), ip_of(&pods[1]).expect("ip"));
    let listed = std::process::Command::new("nft")
        .args(["-j", "list", "table", "inet", &table_of(&env)])
        .output()
        .expect("nft");
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("nft json");
    let set = listed["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| &o["set"])
        .find(|s| {
            s["name"].as_str().is_some_and(|n| {
                n.starts_with("affinity-default/sticky") && n.contains(&format!("/{kept_ip}:"))
            })
        })
        .unwrap_or_else(|| panic!("no affinity set for {kept_ip}: {listed}"));
    assert_eq!(set["elem"][0]["elem"]["val"], client_ip.as_str(), "{set}");
    let seen = fetch_from(&env, "client", &sticky, 20);
    assert!(seen.iter().all(|l| *l == pods[1]), "{seen:?}");

    // The node port, from the host itself.
    let out = std::process::Command::new("busybox")
        .args(["wget", "-qO-", &format!("http://127.0.0.1:{node_port}/")])
        .output()
        .expect("busybox wget");
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(pods.contains(&answer), "{answer:?} {}", stderr(&out));

    // No replica: connections are refused at once instead of hanging.
    let out = env.tandem(&["scale", "deployment/web", "--replicas", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // (Replicas still terminating serve the connections they are sent, as kube-proxy sends
    // them to serving terminating endpoints when none is ready: wait for them to be gone.)
    wait_for("no endpoint at all", 60, || {
        let out = env.tandem(&["get", "endpointslices", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let items = v["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .all(|s| s["endpoints"].as_array().is_none_or(Vec::is_empty))
            .then_some(())
    });
    let out = env.tandem(&["exec", "client", "--", "wget", "-qO-", &url]);
    assert!(
        stderr(&out).contains("Connection refused"),
        "{}",
        stderr(&out)
    );

    // Deleting the file removes the Service's rules, its addresses and the proxy.
    let out = env.tandem(&[
        "delete",
        "-f",
        env.root.path().join("app.yaml").to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("service \"web\" deleted"),
        "{}",
        stdout(&out)
    );
    wait_for("the proxy to leave", 30, || {
        (proxies(&env) == 0).then_some(())
    });
    assert!(!table_exists(&table), "{table} is left");
    assert_eq!(reservations_of(&env), Vec::<String>::new());
}

#[test]
fn addresses_are_the_machines_and_bad_ones_are_refused_before_anything_starts() {
    if require_root("addresses_are_the_machines_and_bad_ones_are_refused_before_anything_starts")
        .is_none()
    {
        return;
    }
    let (a, b) = (Env::new(), Env::new());
    // A port of the node-port range that something on the host listens on.
    let (listener, taken) = (30000..=32767)
        .rev()
        .find_map(|p| {
            std::net::TcpListener::bind(("0.0.0.0", p))
                .ok()
                .map(|l| (l, p))
        })
        .expect("a free port");
    let free = (30000..=32767)
        .rev()
        .find(|p| *p != taken && std::net::TcpListener::bind(("0.0.0.0", *p)).is_ok())
        .expect("another free port");
    let svc = |node_port: u16| {
        format!("apiVersion: v1\nkind: Service\nmetadata: {{name: db}}\nspec:\n  type: NodePort\n  selector: {{app: db}}\n  ports: [{{port: 5432, nodePort: {node_port}}}]\n")
    };
    let pod = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: [sleep, \"3600\"]}}]\n");
    // A node port something listens on: refused, and nothing of the file starts.
    let out = run_d(&a, &format!("{}---\n{pod}", svc(taken)));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "spec.ports[0].nodePort: Invalid value: \"{taken}\": provided port is already in use on this host"
        )),
        "{}",
        stderr(&out)
    );
    drop(listener);
    assert!(stdout(&a.tandem(&["get", "pods", "-o", "name"])).is_empty());
    assert!(stdout(&a.tandem(&["get", "services", "-o", "name"])).is_empty());

    // The same Service in two stores: the second gets another cluster IP, and may not have the
    // first one's node port.
    let out = run_d(&a, &svc(free));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_d(&b, &svc(free));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("provided port is already allocated"),
        "{}",
        stderr(&out)
    );
    let out = run_d(&b, &svc(free).replace(&format!(", nodePort: {free}"), ""));
    assert!(out.status.success(), "{}", stderr(&out));
    let ip_a = service_json(&a, "db")["spec"]["clusterIP"].clone();
    let ip_b = service_json(&b, "db")["spec"]["clusterIP"].clone();
    assert!(ip_a.is_string() && ip_b.is_string());
    assert_ne!(ip_a, ip_b);
    // A second create of one name, and a cluster IP outside the range, as the API server says.
    let out = run_d(&a, &svc(free));
    assert!(
        stderr(&out).contains("Error from server (AlreadyExists): services \"db\" already exists"),
        "{}",
        stderr(&out)
    );
    let out = run_d(
        &a,
        "apiVersion: v1\nkind: Service\nmetadata: {name: far}\nspec: {clusterIP: 10.1.2.3, ports: [{port: 80}]}\n",
    );
    assert!(
        stderr(&out).contains(
            "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/16"
        ),
        "{}",
        stderr(&out)
    );
    // The first address of the range is the `kubernetes` Service's, as on a cluster.
    let out = run_d(
        &a,
        "apiVersion: v1\nkind: Service\nmetadata: {name: first}\nspec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}\n",
    );
    assert!(
        stderr(&out).contains("Invalid value: \"10.96.0.1\": provided IP is already allocated"),
        "{}",
        stderr(&out)
    );
    // With no endpoint the node port refuses; deleting the Service frees it.
    let out = a.tandem(&["delete", "svc/db"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = a.tandem(&["get", "svc", "db"]);
    assert!(
        stderr(&out).contains("Error from server (NotFound): services \"db\" not found"),
        "{}",
        stderr(&out)
    );
    let out = run_d(&b, &svc(free).replace("name: db", "name: db2"));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_store_takes_its_service_range_from_the_flag_until_it_is_empty() {
    if require_root("a_store_takes_its_service_range_from_the_flag_until_it_is_empty").is_none() {
        return;
    }
    let env = Env::new();
    let file = env.root.path().join("app.yaml");
    std::fs::write(
        &file,
        format!("apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: web, labels: {{app: web}}}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n    - name: httpd\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 8080 -h /www\"]\n"),
    )
    .expect("write manifest");
    let file = file.to_str().expect("utf-8");
    let out = run_in_range(&env, "10.100.0.0/24", file);
    assert!(out.status.success(), "{}", stderr(&out));
    // A cluster IP above the range's static band (16 addresses for a /24), the `kubernetes`
    // Service's first address and the cluster DNS at the tenth, as a cluster of that range has.
    let ip = service_json(&env, "web")["spec"]["clusterIP"]
        .as_str()
        .expect("a cluster IP")
        .to_string();
    let last: u8 = ip
        .strip_prefix("10.100.0.")
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("{ip} is not in 10.100.0.0/24"));
    assert!((16..255).contains(&last), "{ip}");
    wait_for("the pod to run", 60, || {
        env.tandem(&["exec", "web", "--", "true"])
            .status
            .success()
            .then_some(())
    });
    let resolv = stdout(&env.tandem(&["exec", "web", "--", "cat", "/etc/resolv.conf"]));
    assert!(resolv.contains("nameserver 10.100.0.10"), "{resolv}");
    let vars = stdout(&env.tandem(&["exec", "web", "--", "env"]));
    assert!(
        vars.contains("KUBERNETES_SERVICE_HOST=10.100.0.1\n"),
        "{vars}"
    );
    assert!(vars.contains(&format!("WEB_SERVICE_HOST={ip}\n")), "{vars}");
    // The name resolves through that cluster DNS address and the cluster IP routes.
    let page = wait_for("a page through the Service's name", 30, || {
        let out = env.tandem(&[
            "exec",
            "web",
            "--",
            "wget",
            "-qO-",
            "http://web.default.svc.cluster.local/",
        ]);
        out.status.success().then(|| stdout(&out))
    });
    assert_eq!(page.trim(), "hello");

    // Another range while the store holds these: refused, nothing made.
    let other = env.root.path().join("other.yaml");
    std::fs::write(
        &other,
        "apiVersion: v1\nkind: Service\nmetadata: {name: other}\nspec: {ports: [{port: 80}]}\n",
    )
    .expect("write");
    let other = other.to_str().expect("utf-8");
    let out = run_in_range(&env, "10.101.0.0/24", other);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the store's Services and pods have addresses from 10.100.0.0/24"),
        "{}",
        stderr(&out)
    );
    assert!(!env.tandem(&["get", "svc", "other"]).status.success());
    // Without the flag the store's range holds, as the API server checks a requested address.
    let far = env.root.path().join("far.yaml");
    std::fs::write(
        &far,
        "apiVersion: v1\nkind: Service\nmetadata: {name: far}\nspec: {clusterIP: 10.96.0.50, ports: [{port: 80}]}\n",
    )
    .expect("write");
    let out = env.tandem(&["run", "-d", "-f", far.to_str().expect("utf-8")]);
    assert!(
        stderr(&out).contains("The range of valid IPs is 10.100.0.0/24"),
        "{}",
        stderr(&out)
    );

    // Once the store is empty, its range is forgotten: the default applies again.
    let out = env.tandem(&["delete", "-f", file]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the proxy to leave", 30, || {
        (proxies(&env) == 0).then_some(())
    });
    assert!(!env.root.path().join("services/range").exists());
    let out = env.tandem(&["run", "-d", "-f", other]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ip = service_json(&env, "other")["spec"]["clusterIP"].clone();
    assert!(ip.as_str().is_some_and(|i| i.starts_with("10.96.")), "{ip}");
    let out = env.tandem(&["delete", "svc/other"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn the_table_of_a_store_removed_with_its_proxy_killed_is_swept_by_the_next_proxy() {
    if require_root("the_table_of_a_store_removed_with_its_proxy_killed_is_swept_by_the_next_proxy")
        .is_none()
    {
        return;
    }
    let svc =
        "apiVersion: v1\nkind: Service\nmetadata: {name: gone}\nspec: {ports: [{port: 80}]}\n";
    let (a, b) = (Env::new(), Env::new());
    let out = run_d(&a, svc);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = table_of(&a);
    let record = std::path::Path::new("/run/tandem/service-tables").join(&table);
    wait_for("the table's record", 10, || record.exists().then_some(()));
    let ip = service_json(&a, "gone")["spec"]["clusterIP"]
        .as_str()
        .expect("a cluster IP")
        .to_string();
    let reservation = std::path::Path::new(RESERVATIONS).join(&ip);
    // The store is removed by hand after its proxy was killed: nothing removed its rules.
    let root = a.root.path().display().to_string();
    for (pid, _) in support::pids_mentioning("__proxy") {
        if support::pids_mentioning(&root)
            .iter()
            .any(|(p, _)| *p == pid)
        {
            support::kill9(pid);
        }
    }
    wait_for("the proxy to die", 10, || (proxies(&a) == 0).then_some(()));
    std::fs::remove_dir_all(a.root.path()).expect("remove the store");
    assert!(table_exists(&table), "{table}");
    // Its cluster IP stays reserved for a minute (its holder could be about to be written);
    // made older than that, the next proxy gives it back.
    assert!(reservation.exists(), "{}", reservation.display());
    let aged = std::process::Command::new("touch")
        .args(["-d", "2 minutes ago"])
        .arg(&reservation)
        .status()
        .expect("touch");
    assert!(aged.success());
    // Another store's proxy, as it starts, removes them.
    let out = run_d(&b, &svc.replace("gone", "here"));
    assert!(out.status.success(), "{}", stderr(&out));
    // The table goes first, then its record (a sweep killed between the two finds the record
    // again): both are waited for.
    wait_for("the removed store's table and its record to go", 10, || {
        (!table_exists(&table) && !record.exists()).then_some(())
    });
    wait_for("its cluster IP to be given back", 10, || {
        (!reservation.exists()).then_some(())
    });
    let out = b.tandem(&["delete", "svc/here"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Lines of `nslookup` (busybox's) from a pod, for one name and record type.
fn nslookup(env: &Env, pod: &str, args: &[&str]) -> String {
    let mut argv = vec!["exec", pod, "--", "nslookup"];
    argv.extend(args);
    stdout(&env.tandem(&argv))
}

fn reservations_of(env: &Env) -> Vec<String> {
    let root = env.root.path().display().to_string();
    std::fs::read_dir(RESERVATIONS)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| std::fs::read_to_string(e.path()).is_ok_and(|holder| holder.starts_with(&root)))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_two_tier_example_talks_by_name_and_dns_survives_its_server() {
    if require_root("the_two_tier_example_talks_by_name_and_dns_survives_its_server").is_none() {
        return;
    }
    let env = Env::new();
    let example = support::repo().join("examples/two-tier.yaml");
    let client = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: client}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: [sleep, \"3600\"]}}]\n");
    let client_file = env.root.path().join("client.yaml");
    std::fs::write(&client_file, client).expect("write");
    let out = env.tandem(&[
        "run",
        "-d",
        "-f",
        example.to_str().expect("utf-8"),
        "-f",
        client_file.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The web pods' readiness does not wait for the database (as on a cluster), so the pages
    // below need the database's endpoint to be ready too.
    wait_for(
        "both web pods and the database ready behind their Services",
        90,
        || {
            (ready_addresses(&env, "web").len() == 2
                && ready_addresses(&env, "postgres").len() == 1)
                .then_some(())
        },
    );
    // The proxy follows the endpoints within a quarter second.
    wait_for("a page served through the database's Service", 10, || {
        fetch_from(&env, "client", "http://web/cgi-bin/page", 1)
            .first()
            .is_some_and(|l| l.ends_with("result for SELECT 1"))
            .then_some(())
    });
    // The kubelet's resolv.conf for ClusterFirst.
    let resolv = stdout(&env.tandem(&["exec", "client", "--", "cat", "/etc/resolv.conf"]));
    let dns_ip = resolv
        .lines()
        .find_map(|l| l.strip_prefix("nameserver "))
        .expect("a nameserver")
        .to_string();
    assert!(dns_ip.starts_with("10.96.0."), "{resolv}");
    assert!(
        resolv.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{resolv}"
    );
    assert!(resolv.contains("options ndots:5"), "{resolv}");

    // The web Service by its short, namespaced and full name; each page went through the web
    // pod's ambassador to the `postgres` Service (the seed's ambassador pattern, by name).
    let web = web_pods(&env);
    for name in ["web", "web.default", "web.default.svc.cluster.local"] {
        let seen = fetch_from(&env, "client", &format!("http://{name}/cgi-bin/page"), 1);
        assert_eq!(seen.len(), 1, "{name}: {seen:?}");
        assert!(
            seen[0].ends_with("db postgres-0: result for SELECT 1"),
            "{name}: {seen:?}"
        );
    }
    let seen = fetch_from(&env, "client", "http://web/cgi-bin/page", 50);
    for p in &web {
        assert!(
            seen.iter().any(|l| l.starts_with(&format!("web {p}:"))),
            "{p} never answered: {seen:?}"
        );
    }
    // The database's adapter counts those queries in Prometheus's format (the seed's adapter
    // pattern), reached by the StatefulSet pod's own name.
    let metrics = fetch_from(
        &env,
        "client",
        "http://postgres-0.postgres-pods:9187/metrics",
        1,
    );
    let count: u32 = metrics
        .iter()
        .find_map(|l| l.strip_prefix("db_queries_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no counter: {metrics:?}"));
    assert!(count >= 53, "{count}: {metrics:?}");
    assert!(
        metrics.contains(&"# TYPE db_queries_total counter".to_string()),
        "{metrics:?}"
    );

    // A headless Service resolves to its ready pods, a StatefulSet pod by its own name, named
    // ports have SRV records, and cluster IPs have reverse names.
    let pg_ip = ready_addresses(&env, "postgres-pods");
    assert_eq!(pg_ip.len(), 1);
    let answer = nslookup(&env, "client", &["postgres-pods.default.svc.cluster.local"]);
    assert!(
        answer.contains(&format!("Address: {}", pg_ip[0])),
        "{answer}"
    );
    let answer = nslookup(
        &env,
        "client",
        &["postgres-0.postgres-pods.default.svc.cluster.local"],
    );
    assert!(
        answer.contains(&format!("Address: {}", pg_ip[0])),
        "{answer}"
    );
    let answer = nslookup(
        &env,
        "client",
        &["-type=srv", "_pg._tcp.postgres.default.svc.cluster.local"],
    );
    assert!(
        answer.contains("0 100 5432 postgres.default.svc.cluster.local"),
        "{answer}"
    );
    let web_ip = service_json(&env, "web")["spec"]["clusterIP"]
        .as_str()
        .expect("ip")
        .to_string();
    let answer = nslookup(&env, "client", &[&web_ip]);
    assert!(answer.contains("web.default.svc.cluster.local"), "{answer}");
    // The Services that existed when the client started are in its environment.
    let environment = stdout(&env.tandem(&["exec", "client", "--", "env"]));
    // The `kubernetes` Service's address: the range's first, or one of the next eight when
    // other stores hold it.
    let k8s = environment
        .lines()
        .find_map(|l| l.strip_prefix("KUBERNETES_SERVICE_HOST="))
        .unwrap_or_default()
        .to_string();
    assert!(
        (1..10).any(|n| k8s == format!("10.96.0.{n}")),
        "{environment}"
    );
    for line in [
        format!("WEB_SERVICE_HOST={web_ip}"),
        "WEB_SERVICE_PORT=80".to_string(),
        "WEB_SERVICE_PORT_HTTP=80".to_string(),
        format!("WEB_PORT=tcp://{web_ip}:80"),
        "POSTGRES_SERVICE_PORT_PG=5432".to_string(),
        // The `kubernetes` Service's, as every container on a cluster has them.
        "KUBERNETES_SERVICE_PORT=443".to_string(),
        "KUBERNETES_SERVICE_PORT_HTTPS=443".to_string(),
        format!("KUBERNETES_PORT=tcp://{k8s}:443"),
        format!("KUBERNETES_PORT_443_TCP=tcp://{k8s}:443"),
        "KUBERNETES_PORT_443_TCP_PROTO=tcp".to_string(),
        "KUBERNETES_PORT_443_TCP_PORT=443".to_string(),
        format!("KUBERNETES_PORT_443_TCP_ADDR={k8s}"),
    ] {
        assert!(
            environment.lines().any(|l| l == line),
            "{line}: {environment}"
        );
    }
    // A headless Service gives none.
    assert!(!environment.contains("POSTGRES_PODS_"), "{environment}");

    // port-forward to the Service: a pod behind it, at the Service port's targetPort.
    let mut forward = env
        .cmd()
        .args(["port-forward", "svc/web", ":80"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("port-forward");
    // Its output is read while it runs: it prints a line per connection.
    let mut output = std::io::BufReader::new(forward.stdout.take().expect("stdout"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut output, &mut first).expect("a line");
    let local = first
        .strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a local port")
        .to_string();
    assert!(first.trim_end().ends_with("-> 8080"), "{first}");
    let out = std::process::Command::new("busybox")
        .args([
            "wget",
            "-qO-",
            &format!("http://127.0.0.1:{local}/cgi-bin/page"),
        ])
        .output()
        .expect("busybox wget");
    let page = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = forward.kill();
    let _ = forward.wait();
    drop(output);
    assert!(
        page.contains("db postgres-0: result for SELECT 1"),
        "{page}"
    );

    // The server is the proxy's: killed, a supervisor starts it again, and names resolve.
    let root = env.root.path().display().to_string();
    let proxy = support::pids_mentioning("__proxy")
        .into_iter()
        .find(|(_, cmd)| cmd.contains(&root))
        .expect("the proxy")
        .0;
    support::kill9(proxy);
    wait_for("names to resolve again", 30, || {
        let answer = nslookup(&env, "client", &["web.default.svc.cluster.local"]);
        answer.contains(&format!("Address: {web_ip}")).then_some(())
    });

    // Deleting it all leaves no proxy, rule or address of this store.
    let table = table_of(&env);
    assert!(table_exists(&table), "{table}");
    let out = env.tandem(&["delete", "-f", example.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.tandem(&["delete", "pod", "client"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(proxies(&env), 0);
    assert!(!table_exists(&table), "{table} is left");
    assert_eq!(reservations_of(&env), Vec::<String>::new());
}

#[test]
fn twenty_service_cycles_leave_no_rule_address_or_process() {
    if require_root("twenty_service_cycles_leave_no_rule_address_or_process").is_none() {
        return;
    }
    let env = Env::new();
    let yaml = format!("apiVersion: v1\nkind: Service\nmetadata: {{name: echo}}\nspec:\n  type: NodePort\n  selector: {{app: echo}}\n  ports: [{{port: 7, targetPort: 7000}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: echo, labels: {{app: echo}}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: [sh, -c, \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]}}]\n");
    let file = env.root.path().join("echo.yaml");
    std::fs::write(&file, yaml).expect("write");
    let file = file.to_str().expect("utf-8");
    for i in 0..20 {
        let out = env.tandem(&["run", "-d", "-f", file]);
        assert!(out.status.success(), "cycle {i}: {}", stderr(&out));
        assert!(service_json(&env, "echo")["spec"]["clusterIP"].is_string());
        let table = table_of(&env);
        let out = env.tandem(&["delete", "-f", file]);
        assert!(out.status.success(), "cycle {i}: {}", stderr(&out));
        assert_eq!(proxies(&env), 0, "cycle {i}");
        assert!(!table_exists(&table), "cycle {i}: {table} is left");
        assert_eq!(reservations_of(&env), Vec::<String>::new(), "cycle {i}");
    }
}

#[test]
fn a_service_without_a_selector_routes_to_endpoints_given_by_hand() {
    if require_root("a_service_without_a_selector_routes_to_endpoints_given_by_hand").is_none() {
        return;
    }
    let env = Env::new();
    // The "database elsewhere": a pod no Service selects, reached by its address.
    let server = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: elsewhere}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: [sh, -c, \"mkdir -p /w && echo from elsewhere > /w/index.html && exec httpd -f -p 8080 -h /w\"]}}]\n");
    let out = run_d(&env, &server);
    assert!(out.status.success(), "{}", stderr(&out));
    let ip = wait_for("the server's address", 60, || {
        env.pod_json("elsewhere")["status"]["podIP"]
            .as_str()
            .map(str::to_string)
    });
    let yaml = format!("apiVersion: v1\nkind: Service\nmetadata: {{name: external}}\nspec:\n  ports: [{{port: 80, targetPort: 8080}}]\n---\napiVersion: v1\nkind: Endpoints\nmetadata: {{name: external}}\nsubsets: [{{addresses: [{{ip: {ip}}}], ports: [{{port: 8080}}]}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: client}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: [sleep, \"3600\"]}}]\n");
    let file = env.root.path().join("external.yaml");
    std::fs::write(&file, yaml).expect("write");
    let file = file.to_str().expect("utf-8");
    let out = env.tandem(&["run", "-d", "-f", file]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the client", 60, || {
        env.tandem(&["exec", "client", "--", "true"])
            .status
            .success()
            .then_some(())
    });
    // By name, through the Service's cluster IP, to the address given by hand.
    let seen = wait_for("an answer through the Service", 30, || {
        let seen = fetch_from(&env, "client", "http://external/", 1);
        (seen == ["from elsewhere"]).then_some(seen)
    });
    assert_eq!(seen, ["from elsewhere"]);
    let table = stdout(&env.tandem(&["get", "endpoints", "external"]));
    assert!(table.contains(&format!("{ip}:8080")), "{table}");
    let slices = stdout(&env.tandem(&["get", "endpointslices", "-o", "json"]));
    assert!(
        slices.contains("endpointslicemirroring-controller.k8s.io"),
        "{slices}"
    );
    // A second run of the file is refused whole.
    let out = env.tandem(&["run", "-d", "-f", file]);
    assert!(!out.status.success());
    let out = env.tandem(&["delete", "-f", file]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("endpoints \"external\" deleted"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&env.tandem(&["get", "endpointslices", "-o", "name"])).is_empty());
}

const DUAL: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n        - name: httpd\n          image: IMAGE\n          imagePullPolicy: Never\n          command: [sh, -c, \"mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www\"]\n          ports: [{name: http, containerPort: 8080}]\n          readinessProbe:\n            exec: {command: [sh, -c, \"test ! -f /tmp/unready\"]}\n            periodSeconds: 1\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  type: NodePort\n  ipFamilyPolicy: PreferDualStack\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: peers}\nspec:\n  clusterIP: None\n  ipFamilyPolicy: RequireDualStack\n  selector: {app: web}\n  ports: [{name: http, port: 8080}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: client}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n    - name: c\n      image: IMAGE\n      imagePullPolicy: Never\n      command: [sleep, \"3600\"]\n";

/// The pods' IPv6 addresses (their `status.podIPs` after the first).
fn ipv6_of(env: &Env, pod: &str) -> Option<String> {
    env.pod_json(pod)["status"]["podIPs"]
        .as_array()?
        .iter()
        .filter_map(|p| p["ip"].as_str())
        .find(|ip| ip.contains(':'))
        .map(str::to_string)
}

#[test]
fn a_dual_stack_service_routes_and_resolves_both_families() {
    if require_root("a_dual_stack_service_routes_and_resolves_both_families").is_none() {
        return;
    }
    if !tandem_network::ipv6_enabled() {
        // Pods here have no IPv6 address: a store is single-stack, as the next test checks.
        eprintln!("skipped: this host has IPv6 disabled, so pods are IPv4 only");
        return;
    }
    let env = Env::new();
    let out = run_d(&env, &DUAL.replace("IMAGE", IMAGE));
    assert!(out.status.success(), "{}", stderr(&out));
    let svc = service_json(&env, "web");
    assert_eq!(
        svc["spec"]["ipFamilies"],
        serde_json::json!(["IPv4", "IPv6"]),
        "{svc}"
    );
    let ips: Vec<String> = svc["spec"]["clusterIPs"]
        .as_array()
        .expect("clusterIPs")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert_eq!(ips.len(), 2, "{svc}");
    assert!(ips[0].starts_with("10.96."), "{ips:?}");
    assert!(ips[1].starts_with("fd00:10:96::"), "{ips:?}");
    assert_eq!(svc["spec"]["clusterIP"], ips[0].as_str());
    // kubectl's column: the first cluster IP.
    let table = stdout(&env.tandem(&["get", "svc", "web"]));
    assert!(
        table.contains(&ips[0]) && !table.contains(&ips[1]),
        "{table}"
    );
    let peers = service_json(&env, "peers");
    assert_eq!(peers["spec"]["clusterIPs"], serde_json::json!(["None"]));
    assert_eq!(
        peers["spec"]["ipFamilies"],
        serde_json::json!(["IPv4", "IPv6"])
    );

    // A slice per family, each with both replicas' addresses of its family.
    let pods = wait_for("both replicas", 60, || {
        let pods = web_pods(&env);
        (pods.len() == 2).then_some(pods)
    });
    let v6: Vec<String> = wait_for("both replicas' IPv6 endpoints", 60, || {
        let out = env.tandem(&["get", "endpointslices", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let mut ready: Vec<String> = v["items"]
            .as_array()?
            .iter()
            .filter(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == "web")
            .filter(|s| s["addressType"] == "IPv6")
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["conditions"]["ready"] == true)
            .filter_map(|e| e["addresses"][0].as_str().map(str::to_string))
            .collect();
        ready.sort();
        (ready.len() == 2).then_some(ready)
    });
    let mut expected: Vec<String> = pods.iter().filter_map(|p| ipv6_of(&env, p)).collect();
    expected.sort();
    assert_eq!(v6, expected);
    wait_for("the client pod", 60, || {
        let out = env.tandem(&["exec", "client", "--", "true"]);
        out.status.success().then_some(())
    });

    // Both replicas answer through the IPv6 cluster IP, from a pod and from the host.
    let url = format!("http://[{}]/", ips[1]);
    let seen = fetch_from(&env, "client", &url, 30);
    for p in &pods {
        assert!(seen.contains(p), "{p} never answered over IPv6: {seen:?}");
    }
    assert!(!seen.iter().any(|l| l == "FAILED"), "{seen:?}");
    let out = std::process::Command::new("busybox")
        .args(["wget", "-qO-", &url])
        .output()
        .expect("busybox wget");
    let page = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        pods.contains(&page),
        "from the host: {page:?} {}",
        stderr(&out)
    );
    // The node port over IPv6, on one of the host's addresses (the pods' gateway); on ::1 it
    // is refused at once, as kube-proxy leaves IPv6 loopback out.
    let node_port = svc["spec"]["ports"][0]["nodePort"]
        .as_u64()
        .expect("a node port");
    let wget = |url: String| {
        std::process::Command::new("busybox")
            .args(["wget", "-qO-", &url])
            .output()
            .expect("busybox wget")
    };
    let out = wget(format!("http://[fd87:7a6e::1]:{node_port}/"));
    let page = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(pods.contains(&page), "node port: {page:?} {}", stderr(&out));
    let out = wget(format!("http://[::1]:{node_port}/"));
    assert!(
        stderr(&out).contains("Connection refused"),
        "{}",
        stderr(&out)
    );

    // DNS: AAAA for the Service, and the replicas' IPv6 addresses for the headless one.
    let aaaa = nslookup(
        &env,
        "client",
        &["-type=AAAA", "web.default.svc.cluster.local"],
    );
    assert!(aaaa.contains(&ips[1]), "{aaaa}");
    let a = nslookup(
        &env,
        "client",
        &["-type=A", "web.default.svc.cluster.local"],
    );
    assert!(a.contains(&ips[0]) && !a.contains(&ips[1]), "{a}");
    let headless = nslookup(
        &env,
        "client",
        &["-type=AAAA", "peers.default.svc.cluster.local"],
    );
    for ip in &v6 {
        assert!(headless.contains(ip.as_str()), "{ip} in {headless}");
    }

    // Readiness in the IPv6 family as in the IPv4 one: an unready replica leaves the rotation.
    let out = env.tandem(&["exec", &pods[0], "--", "touch", "/tmp/unready"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the unready endpoint to leave", 30, || {
        (ready_addresses(&env, "web").len() == 1).then_some(())
    });
    let seen = fetch_from(&env, "client", &url, 20);
    assert!(seen.iter().all(|l| *l == pods[1]), "{seen:?}");

    let table = table_of(&env);
    let out = env.tandem(&[
        "delete",
        "-f",
        env.root.path().join("app.yaml").to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the store's table to go", 30, || {
        (!table_exists(&table)).then_some(())
    });
}

#[test]
fn a_single_stack_store_refuses_what_needs_two_families() {
    if require_root("a_single_stack_store_refuses_what_needs_two_families").is_none() {
        return;
    }
    let env = Env::new();
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: both}\nspec:\n  ipFamilyPolicy: RequireDualStack\n  selector: {app: x}\n  ports: [{port: 80}]\n";
    let path = env.root.path().join("svc.yaml");
    std::fs::write(&path, svc).expect("write");
    let file = path.to_str().expect("utf-8");
    let out = run_in_range(&env, "10.100.0.0/16", file);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("The Service \"both\" is invalid: spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services"),
        "{}",
        stderr(&out)
    );
    assert!(!env.tandem(&["get", "svc", "both"]).status.success());
    // PreferDualStack takes what there is; an IPv6 range second makes the store dual-stack
    // (on a host with IPv6), a range of one family first refused.
    let prefer = svc.replace("RequireDualStack", "PreferDualStack");
    std::fs::write(&path, &prefer).expect("write");
    let out = run_in_range(&env, "10.100.0.0/16", file);
    assert!(out.status.success(), "{}", stderr(&out));
    let got = service_json(&env, "both");
    assert_eq!(
        got["spec"]["ipFamilies"],
        serde_json::json!(["IPv4"]),
        "{got}"
    );
    assert!(
        got["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.100.")),
        "{got}"
    );
    let out = env.tandem(&["delete", "svc/both"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_in_range(&env, "fd00:10:96::/112", file);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the first range is the pods' first family, IPv4"),
        "{}",
        stderr(&out)
    );
}
