//! `tandem serve` and `tandem kubeconfig`: the Kubernetes API endpoint (tandem-apiserver) over
//! this store, in the foreground or in the background, and the kubeconfig that reaches it. What
//! the endpoint does to the store is `api_backend`'s.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::Context;
use tandem_apiserver::{Credentials, Server};
use tandem_supervisor::statedir::Store;

use super::start::write_private;
use crate::cli::{KubeconfigArgs, ServeArgs};
use crate::errors::hint;

pub fn serve(store: &Store, a: ServeArgs) -> anyhow::Result<i32> {
    if !nix::unistd::geteuid().is_root() {
        return Err(hint(
            "tandem serve needs root: the pods it creates and deletes are root's",
            "run it with sudo, or as root",
        ));
    }
    if a.detach {
        return detach(store);
    }
    if a.detached_child {
        // A session of its own: the terminal that started `serve -d` may close.
        let _ = nix::unistd::setsid();
    }
    std::fs::create_dir_all(&store.serve)
        .with_context(|| format!("cannot create {}", store.serve.display()))?;
    let _lock = lock(&store.serve)?;
    let hostname = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let mut names = tandem_apiserver::pki::server_names(a.address, &host_addresses(), &hostname);
    names.extend(kubernetes_names(store));
    let credentials = Credentials::load_or_create(&store.serve, &names).with_context(|| {
        format!(
            "cannot prepare the certificates in {}",
            store.serve.display()
        )
    })?;
    let backend = Arc::new(super::api_backend::StoreBackend::new(store.clone())?);
    let server =
        Server::bind(SocketAddr::new(a.address, a.port), &credentials, backend).map_err(|e| {
            match &e {
                tandem_apiserver::ServeError::Bind { source, .. }
                    if source.kind() == std::io::ErrorKind::AddrInUse =>
                {
                    hint(
                        format!("port {} of {} is in use", a.port, a.address),
                        "pick another with --port (0: any free port)",
                    )
                }
                _ => anyhow::Error::new(e),
            }
        })?;
    let bound = server.local_addr();
    let url = server_url(bound);
    // Pods reach it through the `kubernetes` Service: an unspecified address through loopback.
    let reach = match bound.ip().is_unspecified() {
        true => SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), bound.port()),
        false => bound,
    };
    let endpoint = super::service_proxy::ApiEndpoint {
        pid: std::process::id(),
        address: reach,
    };
    endpoint.write(store)?;
    let config = credentials.kubeconfig(&url);
    let path = kubeconfig_path(store);
    write_private(&path, config.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if let Some(extra) = &a.write_kubeconfig {
        write_private(extra, config.as_bytes())
            .with_context(|| format!("cannot write {}", extra.display()))?;
    }
    // Whoever started this may stop reading (`serve -d` returns): the lines are best effort.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "serving the Kubernetes API on {url}");
    let _ = writeln!(
        out,
        "kubeconfig: {} (export KUBECONFIG={0})",
        path.display()
    );
    let _ = out.flush();
    server.run()?;
    Ok(0)
}

pub fn kubeconfig(store: &Store, a: KubeconfigArgs) -> anyhow::Result<i32> {
    let path = kubeconfig_path(store);
    let config = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => hint(
            format!(
                "{} does not exist: tandem serve has not run for this store",
                path.display()
            ),
            "start it with `tandem serve -d`",
        ),
        _ => anyhow::Error::new(e).context(format!("cannot read {}", path.display())),
    })?;
    match a.path {
        true => println!("{}", path.display()),
        false => print!("{config}"),
    }
    Ok(0)
}

fn kubeconfig_path(store: &Store) -> PathBuf {
    store.serve.join("kubeconfig")
}

/// What clients dial: loopback when every address is served.
fn server_url(bound: SocketAddr) -> String {
    let host = match bound.ip() {
        IpAddr::V4(v) if v.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(v) if v.is_unspecified() => "[::1]".to_string(),
        IpAddr::V4(v) => v.to_string(),
        IpAddr::V6(v) => format!("[{v}]"),
    };
    format!("https://{host}:{}", bound.port())
}

/// The names pods dial the API server by: the `kubernetes` Service's, and each address it may
/// hold (the first free of the Service range's first nine, reserved with the store's first pod,
/// perhaps after this certificate is made).
fn kubernetes_names(store: &Store) -> Vec<String> {
    let range = super::service_store::ranges(store).primary;
    let mut names: Vec<String> = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    .map(String::from)
    .to_vec();
    names.extend((1..10).map(|offset| range.nth(offset).to_string()));
    names
}

fn host_addresses() -> Vec<IpAddr> {
    nix::ifaddrs::getifaddrs()
        .map(|addrs| {
            addrs
                .filter_map(|a| {
                    let a = a.address?;
                    a.as_sockaddr_in()
                        .map(|s| IpAddr::V4(s.ip()))
                        .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One server per store: the lock is held for the process's life.
fn lock(dir: &Path) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    let path = dir.join("serve.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut locked = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            hint(
                format!(
                    "tandem serve is already running for this store (pid {}): {e}",
                    holder.trim()
                ),
                "`tandem kubeconfig` gives its address; stop it first to start another",
            )
        })?;
    locked.set_len(0)?;
    write!(locked, "{}", std::process::id())?;
    Ok(locked)
}

/// `serve -d`: the same command in the background, its log in the store; returns once it
/// serves (or with its error).
fn detach(store: &Store) -> anyhow::Result<i32> {
    std::fs::create_dir_all(&store.serve)
        .with_context(|| format!("cannot create {}", store.serve.display()))?;
    let log_path = store.serve.join("serve.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let args: Vec<std::ffi::OsString> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "-d" && a != "--detach")
        .chain(["--detached-child".into()])
        .collect();
    let exe = super::own_exe()?;
    let mut child = Command::new(exe)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("cannot start tandem serve in the background")?;
    let mut lines = vec![];
    if let Some(out) = child.stdout.take() {
        let mut reader = BufReader::new(out);
        for _ in 0..2 {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            lines.push(line);
        }
    }
    if lines.len() < 2 {
        let _ = child.wait();
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let last = log
            .lines()
            .rev()
            .take_while(|l| !l.is_empty())
            .collect::<Vec<_>>();
        let last: Vec<&str> = last.into_iter().rev().collect();
        return Err(anyhow::anyhow!("{}", last.join("\n")).context(format!(
            "tandem serve did not start (its log: {})",
            log_path.display()
        )));
    }
    for l in lines {
        print!("{l}");
    }
    println!("pid {}; log {}", child.id(), log_path.display());
    Ok(0)
}
