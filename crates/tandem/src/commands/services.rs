//! The Services' verbs: `get services|endpoints|endpointslices` with kubectl's columns, the
//! Services section of `get all`, and `delete service`.

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use tandem_api::services::ServiceType;
use tandem_controllers::endpoints::{endpoints, labelled_for, members};
use tandem_supervisor::statedir::Store;

use super::service_store::{list, manual_slices, namespace_of};
use crate::cli::{GetArgs, Output};
use crate::errors::{hint, not_found};
use crate::output::{table, yaml::to_yaml};

/// `tandem delete service NAME`.
pub fn delete(store: &Store, namespace: &str, name: &str) -> anyhow::Result<()> {
    if !super::service_store::remove(store, namespace, name)? {
        return Err(not_found(
            "services",
            name,
            "`tandem get services` lists the Services",
        ));
    }
    println!("service \"{name}\" deleted");
    Ok(())
}

fn age_of(meta: &ObjectMeta) -> String {
    match &meta.creation_timestamp {
        Some(t) => tandem_kubelet::status::human_duration(
            ((tandem_supervisor::logs::now_us() - t.0.as_microsecond()).max(0) / 1_000_000) as u64,
        ),
        None => "<unknown>".into(),
    }
}

/// kubectl's PORT(S) column: `80/TCP`, `80:30080/TCP`, comma-separated.
fn ports_text(s: &Service) -> String {
    let ports = s
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    if ports.is_empty() {
        return "<none>".into();
    }
    ports
        .iter()
        .map(|p| {
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            match p.node_port {
                Some(n) => format!("{}:{n}/{proto}", p.port),
                None => format!("{}/{proto}", p.port),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn external_ip(s: &Service) -> String {
    let spec = s.spec.clone().unwrap_or_default();
    match ServiceType::of(s) {
        ServiceType::ExternalName => spec.external_name.unwrap_or_default(),
        ServiceType::LoadBalancer => {
            let ips: Vec<String> = s
                .status
                .as_ref()
                .and_then(|st| st.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.clone())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| i.ip.or(i.hostname))
                .collect();
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        _ => "<none>".into(),
    }
}

fn selector_text(s: &Service) -> String {
    let sel = s
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default();
    if sel.is_empty() {
        return "<none>".into();
    }
    sel.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// kubectl's list of addresses: the first three, then ` + N more...`.
fn at_most_three(items: Vec<String>) -> String {
    match items.len() {
        0 => "<none>".into(),
        n if n > 3 => format!("{} + {} more...", items[..3].join(","), n - 3),
        _ => items.join(","),
    }
}

/// The resources `get` serves here, by the names kubectl takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Services,
    Endpoints,
    EndpointSlices,
}

impl Resource {
    pub fn from_resource(r: &str) -> Option<Resource> {
        Some(match r {
            "services" | "service" | "svc" => Resource::Services,
            "endpoints" | "endpoint" | "ep" => Resource::Endpoints,
            "endpointslices" | "endpointslice" | "endpointslices.discovery.k8s.io" => {
                Resource::EndpointSlices
            }
            _ => return None,
        })
    }

    fn kind(self) -> &'static str {
        match self {
            Resource::Services => "service",
            Resource::Endpoints => "endpoints",
            Resource::EndpointSlices => "endpointslice.discovery.k8s.io",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Resource::Services => "services",
            Resource::Endpoints => "endpoints",
            Resource::EndpointSlices => "endpointslices.discovery.k8s.io",
        }
    }
}

/// One object as `get` shows it: name, namespace, its JSON and its table row.
pub(crate) struct Item {
    pub name: String,
    pub namespace: String,
    pub json: Value,
    pub row: Vec<String>,
}

impl Item {
    fn of(json: Value, r: Resource, wide: bool) -> Item {
        Item {
            name: json["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            namespace: json["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            row: row_of(r, &json, wide),
            json,
        }
    }
}

/// An object's row in kubectl's table of `r` (`wide`: with the columns of `-o wide`).
pub(crate) fn row_of(r: Resource, json: &Value, wide: bool) -> Vec<String> {
    let name = json["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let meta: ObjectMeta = serde_json::from_value(json["metadata"].clone()).unwrap_or_default();
    match r {
        Resource::Services => {
            let s: Service = serde_json::from_value(json.clone()).unwrap_or_default();
            let spec = s.spec.clone().unwrap_or_default();
            let mut row = vec![
                name,
                ServiceType::of(&s).name().to_string(),
                spec.cluster_ip.clone().unwrap_or_else(|| "<none>".into()),
                external_ip(&s),
                ports_text(&s),
                age_of(&meta),
            ];
            if wide {
                row.push(selector_text(&s));
            }
            row
        }
        Resource::Endpoints => {
            let e: Endpoints = serde_json::from_value(json.clone()).unwrap_or_default();
            let mut addresses = Vec::new();
            for subset in e.subsets.iter().flatten() {
                for addr in subset.addresses.iter().flatten() {
                    let ports = subset.ports.clone().unwrap_or_default();
                    if ports.is_empty() {
                        addresses.push(addr.ip.clone());
                    }
                    for p in ports {
                        addresses.push(format!("{}:{}", addr.ip, p.port));
                    }
                }
            }
            vec![name, at_most_three(addresses), age_of(&meta)]
        }
        Resource::EndpointSlices => {
            let slice: EndpointSlice = serde_json::from_value(json.clone()).unwrap_or_default();
            let ports: Vec<String> = slice
                .ports
                .iter()
                .flatten()
                .filter_map(|p| p.port.map(|n| n.to_string()))
                .collect();
            let addresses: Vec<String> = members(&slice)
                .iter()
                .flat_map(|e| e.addresses.clone())
                .collect();
            vec![
                name,
                slice.address_type.clone(),
                if ports.is_empty() {
                    "<unset>".into()
                } else {
                    ports.join(",")
                },
                at_most_three(addresses),
                age_of(&meta),
            ]
        }
    }
}

/// The objects of `r` in the store, of every namespace: Services as created, their Endpoints as
/// the endpoints controller would write them, the EndpointSlices made and those given by hand.
pub(crate) fn objects(store: &Store, r: Resource) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    for (dir, s) in list(store) {
        match r {
            Resource::Services => {
                let mut json = serde_json::to_value(&s)?;
                json["apiVersion"] = "v1".into();
                json["kind"] = "Service".into();
                out.push(json);
            }
            Resource::Endpoints => {
                let given = manual_slices(store);
                let slices: Vec<EndpointSlice> = dir
                    .slices()
                    .into_iter()
                    .chain(labelled_for(&s, &given).cloned())
                    .collect();
                let mut json = serde_json::to_value(endpoints(&s, &slices))?;
                json["apiVersion"] = "v1".into();
                json["kind"] = "Endpoints".into();
                json["metadata"]["namespace"] = namespace_of(&s).into();
                // Written by the endpoints controller as the Service appears.
                json["metadata"]["creationTimestamp"] =
                    serde_json::to_value(&s.metadata.creation_timestamp)?;
                out.push(json);
            }
            Resource::EndpointSlices => {
                for slice in dir.slices() {
                    out.push(slice_json(slice, namespace_of(&s))?);
                }
            }
        }
    }
    if r == Resource::EndpointSlices {
        // Those given by hand, whichever Service (if any) they name.
        for slice in manual_slices(store) {
            let ns = slice.metadata.namespace.clone().unwrap_or_default();
            out.push(slice_json(slice, &ns)?);
        }
    }
    Ok(out)
}

fn items(store: &Store, r: Resource, a: &GetArgs) -> anyhow::Result<Vec<Item>> {
    let wide = a.output == Some(Output::Wide);
    Ok(objects(store, r)?
        .into_iter()
        .map(|json| Item::of(json, r, wide))
        .filter(|i| a.all_namespaces || i.namespace == a.namespace)
        .collect())
}

fn slice_json(slice: EndpointSlice, namespace: &str) -> anyhow::Result<Value> {
    let mut json = serde_json::to_value(&slice)?;
    json["apiVersion"] = "discovery.k8s.io/v1".into();
    json["kind"] = "EndpointSlice".into();
    json["metadata"]["namespace"] = namespace.into();
    Ok(json)
}

/// kubectl's columns of `r`, those of `-o wide` included (a Service's last, SELECTOR).
pub(crate) fn wide_header(r: Resource) -> Vec<&'static str> {
    match r {
        Resource::Services => vec![
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
            "SELECTOR",
        ],
        Resource::Endpoints => vec!["NAME", "ENDPOINTS", "AGE"],
        Resource::EndpointSlices => vec!["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
    }
}

fn header(r: Resource, a: &GetArgs) -> Vec<&'static str> {
    let mut h = wide_header(r);
    if r == Resource::Services && a.output != Some(Output::Wide) {
        h.pop();
    }
    if a.all_namespaces {
        h.insert(0, "NAMESPACE");
    }
    h
}

fn rows(items: &[Item], a: &GetArgs, qualify: Option<&str>) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|i| {
            let mut r = i.row.clone();
            if let Some(kind) = qualify {
                r[0] = format!("{kind}/{}", r[0]);
            }
            if a.all_namespaces {
                r.insert(0, i.namespace.clone());
            }
            r
        })
        .collect()
}

/// `tandem get services|endpoints|endpointslices [NAME]`.
pub fn get(store: &Store, r: Resource, a: &GetArgs) -> anyhow::Result<i32> {
    if let Some(flag) = a.pod_only_flag() {
        return Err(hint(
            format!("{flag} is not supported for {} yet", r.plural()),
            "use it with `tandem get pods`",
        ));
    }
    if let Ok(exe) = super::own_exe() {
        super::service_proxy::ensure_proxy(store, &exe)?;
    }
    let mut items = items(store, r, a)?;
    if let Some(n) = &a.name {
        items.retain(|i| &i.name == n);
        if items.is_empty() {
            return Err(not_found(
                r.plural().split('.').next().unwrap_or_default(),
                n,
                format!("`tandem get {}` lists them", r.plural()),
            ));
        }
    }
    let json = || -> Value {
        match (&a.name, items.first()) {
            (Some(_), Some(i)) => i.json.clone(),
            _ => crate::output::list_of(items.iter().map(|i| i.json.clone()).collect()),
        }
    };
    match &a.output {
        Some(Output::Json) => println!("{}", serde_json::to_string_pretty(&json())?),
        Some(Output::Yaml) => print!("{}", to_yaml(&json())),
        Some(Output::JsonPath(t)) => print!("{}", t.render(&json())),
        Some(Output::Name) => {
            for i in &items {
                println!("{}/{}", r.kind(), i.name);
            }
        }
        Some(Output::CustomColumns(_)) => {
            return Err(hint(
                format!("-o custom-columns is not supported for {} yet", r.plural()),
                "use -o jsonpath, json or yaml",
            ))
        }
        Some(Output::Wide) | None => {
            if items.is_empty() {
                a.say_none_found();
                return Ok(0);
            }
            print!("{}", table(&header(r, a), &rows(&items, a, None)));
        }
    }
    Ok(0)
}

/// The Services section of `get all` (`service/NAME`), when there is one.
pub fn all_section(store: &Store, a: &GetArgs) -> anyhow::Result<Option<String>> {
    let items = items(store, Resource::Services, a)?;
    Ok((!items.is_empty()).then(|| {
        table(
            &header(Resource::Services, a),
            &rows(&items, a, Some("service")),
        )
    }))
}
