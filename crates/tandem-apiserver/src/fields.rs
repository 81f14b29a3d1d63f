//! Field management, as the API server keeps it in `metadata.managedFields`: which manager
//! (`kubectl`, `helm`, a controller) set which fields of an object, by `Apply` (server-side
//! apply) or by `Update` (create, replace, patch), and server-side apply on top of it — the
//! rules of structured-merge-diff
//! (<https://kubernetes.io/docs/reference/using-api/server-side-apply/>), in our words:
//!
//! - an apply sets the fields of the applied configuration and makes its manager their owner;
//! - a field the manager applied before and applies no more is removed, unless another manager
//!   owns it too;
//! - a field another manager owns with a different value is a conflict, refused unless the
//!   apply is forced (the field then changes owner);
//! - any other write makes its manager the owner of the fields it changed, taking them from the
//!   others.
//!
//! Lists are atomic (owned and replaced whole) unless their items have a key (containers by
//! name, ports by number, the same keys a strategic merge patch merges on: `k:{"name":"app"}`)
//! or they are sets (`finalizers`: `v:"x"`). Objects are structs, except the maps of labels,
//! annotations, data and selectors, whose own entry is owned too (`.`).
//!
//! Pure: the owners of each object are kept by [`Ledger`], which the server persists.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

/// One step of a path into an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Element {
    /// A field of a struct or a key of a map: `f:name`.
    Field(String),
    /// The item of a keyed list with these key values (canonical JSON): `k:{"name":"app"}`.
    Key(String),
    /// The item of a set list with this value (JSON): `v:"finalizer"`.
    Value(String),
}

impl Element {
    fn render(&self) -> String {
        match self {
            Element::Field(f) => format!("f:{f}"),
            Element::Key(k) => format!("k:{k}"),
            Element::Value(v) => format!("v:{v}"),
        }
    }

    fn parse(text: &str) -> Option<Element> {
        let (kind, rest) = text.split_at_checked(2)?;
        Some(match kind {
            "f:" => Element::Field(rest.to_string()),
            "k:" => Element::Key(canonical(&serde_json::from_str(rest).ok()?)),
            "v:" => Element::Value(canonical(&serde_json::from_str(rest).ok()?)),
            _ => return None,
        })
    }
}

/// JSON with object keys sorted (serde_json's maps are sorted), so equal keys are equal text.
fn canonical(v: &Value) -> String {
    v.to_string()
}

pub type Path = Vec<Element>;

/// The fields a manager owns: each owned path (a leaf, or a map or list item owned as such).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(pub BTreeSet<Path>);

impl FieldSet {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `path` holds other owned paths (it is a map or list item, not a value).
    fn has_children(&self, path: &Path) -> bool {
        // Paths sort before their extensions, which follow them together.
        self.0
            .range(path.clone()..)
            .find(|p| *p != path)
            .is_some_and(|p| p.starts_with(path))
    }

    /// `fieldsV1`: the paths as a tree, `{}` at each leaf, `.` for a node owned itself.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for path in &self.0 {
            let mut node = &mut root;
            for (i, element) in path.iter().enumerate() {
                let entry = node.entry(element.render()).or_insert_with(|| json!({}));
                let Value::Object(next) = entry else {
                    break;
                };
                node = next;
                if i + 1 == path.len() && self.has_children(path) {
                    node.insert(".".into(), json!({}));
                }
            }
        }
        Value::Object(root)
    }

    /// The paths of a `fieldsV1` tree; what cannot be read is left out.
    pub fn from_fields_v1(tree: &Value) -> FieldSet {
        fn walk(node: &Map<String, Value>, at: &mut Path, out: &mut BTreeSet<Path>) {
            if (node.is_empty() || node.contains_key(".")) && !at.is_empty() {
                out.insert(at.clone());
            }
            for (k, v) in node {
                let (Some(element), Some(child)) = (Element::parse(k), v.as_object()) else {
                    continue;
                };
                at.push(element);
                walk(child, at, out);
                at.pop();
            }
        }
        let mut out = BTreeSet::new();
        if let Some(tree) = tree.as_object() {
            walk(tree, &mut Vec::new(), &mut out);
        }
        FieldSet(out)
    }
}

/// The fields of a list's items that identify them, by the list's name and the name of the
/// field it is in (those a strategic merge patch merges on; a port also by its protocol).
pub(crate) fn list_key(parent: &str, field: &str) -> Option<&'static [&'static str]> {
    Some(match crate::patch::merge_key(parent, field)? {
        "port" => &["port", "protocol"],
        "containerPort" => &["containerPort", "protocol"],
        "name" => &["name"],
        "mountPath" => &["mountPath"],
        "devicePath" => &["devicePath"],
        "type" => &["type"],
        "conditionType" => &["conditionType"],
        "ip" => &["ip"],
        "topologyKey" => &["topologyKey", "whenUnsatisfiable"],
        _ => return None,
    })
}

/// Lists whose items are a set of values.
fn is_set(field: &str) -> bool {
    matches!(field, "finalizers")
}

/// Objects that are maps (their own entry is owned, beside each key's).
fn is_map(field: &str) -> bool {
    matches!(
        field,
        "labels"
            | "annotations"
            | "data"
            | "binaryData"
            | "stringData"
            | "selector"
            | "nodeSelector"
            | "matchLabels"
            | "limits"
            | "requests"
    )
}

/// The identity of a keyed list's item: its key fields (a port's protocol defaults to TCP).
fn item_key(item: &Value, keys: &[&str]) -> String {
    let mut id = Map::new();
    for k in keys {
        match item.get(*k) {
            Some(v) => {
                id.insert((*k).to_string(), v.clone());
            }
            None if *k == "protocol" => {
                id.insert("protocol".into(), json!("TCP"));
            }
            None => {}
        }
    }
    canonical(&Value::Object(id))
}

/// Fields no manager owns: the object's identity and what the server writes.
fn unmanaged(path: &[Element]) -> bool {
    let field = |i: usize| match path.get(i) {
        Some(Element::Field(f)) => Some(f.as_str()),
        _ => None,
    };
    matches!(
        (field(0), field(1)),
        (Some("apiVersion" | "kind" | "status"), _)
            | (
                Some("metadata"),
                Some(
                    "name"
                        | "namespace"
                        | "uid"
                        | "resourceVersion"
                        | "generation"
                        | "creationTimestamp"
                        | "deletionTimestamp"
                        | "deletionGracePeriodSeconds"
                        | "managedFields"
                        | "selfLink"
                )
            )
    )
}

/// The fields an object sets.
pub fn fields_of(object: &Value) -> FieldSet {
    fn walk(v: &Value, field: &str, parent: &str, at: &mut Path, out: &mut BTreeSet<Path>) {
        if unmanaged(at) {
            return;
        }
        match v {
            Value::Object(m) if !m.is_empty() => {
                if is_map(field) && !at.is_empty() {
                    out.insert(at.clone());
                }
                for (k, child) in m {
                    at.push(Element::Field(k.clone()));
                    walk(child, k, field, at, out);
                    at.pop();
                }
            }
            Value::Array(items) if is_set(field) => {
                for item in items {
                    at.push(Element::Value(canonical(item)));
                    out.insert(at.clone());
                    at.pop();
                }
            }
            Value::Array(items) => match list_key(parent, field) {
                Some(keys) if items.iter().all(Value::is_object) => {
                    for item in items {
                        at.push(Element::Key(item_key(item, keys)));
                        out.insert(at.clone());
                        if let Some(m) = item.as_object() {
                            for (k, child) in m {
                                at.push(Element::Field(k.clone()));
                                walk(child, k, field, at, out);
                                at.pop();
                            }
                        }
                        at.pop();
                    }
                }
                _ => {
                    out.insert(at.clone());
                }
            },
            _ => {
                out.insert(at.clone());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(object, "", "", &mut Vec::new(), &mut out);
    FieldSet(out)
}

/// The name of the field a path ends in and of the one before it (what a list's key depends on).
fn names(path: &[Element]) -> (String, String) {
    let mut fields = path.iter().rev().filter_map(|e| match e {
        Element::Field(f) => Some(f.clone()),
        _ => None,
    });
    let field = fields.next().unwrap_or_default();
    (field, fields.next().unwrap_or_default())
}

/// The value at `path`, when there is one.
pub fn value_at<'a>(object: &'a Value, path: &[Element]) -> Option<&'a Value> {
    let mut v = object;
    for (i, element) in path.iter().enumerate() {
        v = match element {
            Element::Field(f) => v.get(f)?,
            Element::Value(x) => v.as_array()?.iter().find(|i| canonical(i) == *x)?,
            Element::Key(k) => {
                let (field, parent) = names(&path[..i]);
                let keys = list_key(&parent, &field)?;
                v.as_array()?.iter().find(|i| item_key(i, keys) == *k)?
            }
        };
    }
    Some(v)
}

/// Removes what is at `path` (a field, a list's item), if it is there.
fn remove_at(object: &mut Value, path: &[Element]) {
    let Some((last, to)) = path.split_last() else {
        return;
    };
    let mut v = object;
    for (i, element) in to.iter().enumerate() {
        let next = match element {
            Element::Field(f) => v.get_mut(f),
            Element::Value(x) => v
                .as_array_mut()
                .and_then(|a| a.iter_mut().find(|i| canonical(i) == *x)),
            Element::Key(k) => {
                let (field, parent) = names(&to[..i]);
                let Some(keys) = list_key(&parent, &field) else {
                    return;
                };
                v.as_array_mut()
                    .and_then(|a| a.iter_mut().find(|i| item_key(i, keys) == *k))
            }
        };
        let Some(next) = next else {
            return;
        };
        v = next;
    }
    match last {
        Element::Field(f) => {
            if let Some(m) = v.as_object_mut() {
                m.remove(f);
            }
        }
        Element::Value(x) => {
            if let Some(a) = v.as_array_mut() {
                a.retain(|i| canonical(i) != *x);
            }
        }
        Element::Key(k) => {
            let (field, parent) = names(to);
            if let (Some(keys), Some(a)) = (list_key(&parent, &field), v.as_array_mut()) {
                a.retain(|i| item_key(i, keys) != *k);
            }
        }
    }
}

/// `live` with `applied` set into it: structs and maps field by field, keyed lists item by item
/// (items only in `live` kept, after those applied), sets by value, anything else replaced.
fn merge(live: &Value, applied: &Value, field: &str, parent: &str) -> Value {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            let mut out = l.clone();
            for (k, v) in a {
                let merged = match l.get(k) {
                    Some(old) => merge(old, v, k, field),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(a)) if is_set(field) => {
            let mut out = a.clone();
            out.extend(l.iter().filter(|i| !a.contains(i)).cloned());
            Value::Array(out)
        }
        (Value::Array(l), Value::Array(a)) => match list_key(parent, field) {
            Some(keys) if a.iter().chain(l).all(Value::is_object) => {
                let mut out: Vec<Value> = a
                    .iter()
                    .map(|item| {
                        let id = item_key(item, keys);
                        match l.iter().find(|o| item_key(o, keys) == id) {
                            Some(old) => merge(old, item, field, parent),
                            None => item.clone(),
                        }
                    })
                    .collect();
                let applied_ids: BTreeSet<String> = a.iter().map(|i| item_key(i, keys)).collect();
                out.extend(
                    l.iter()
                        .filter(|o| !applied_ids.contains(&item_key(o, keys)))
                        .cloned(),
                );
                Value::Array(out)
            }
            _ => applied.clone(),
        },
        _ => applied.clone(),
    }
}

/// How a manager wrote its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One entry of `metadata.managedFields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: String,
    pub fields: FieldSet,
}

impl Entry {
    pub fn to_json(&self) -> Value {
        json!({
            "manager": self.manager,
            "operation": self.operation.name(),
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": self.fields.to_fields_v1(),
        })
    }

    pub fn from_json(v: &Value) -> Option<Entry> {
        Some(Entry {
            manager: v["manager"].as_str()?.to_string(),
            operation: match v["operation"].as_str()? {
                "Apply" => Operation::Apply,
                _ => Operation::Update,
            },
            api_version: v["apiVersion"].as_str().unwrap_or_default().to_string(),
            time: v["time"].as_str().unwrap_or_default().to_string(),
            fields: FieldSet::from_fields_v1(&v["fieldsV1"]),
        })
    }
}

/// A field two managers disagree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager as the API server names it: `"helm"`, or for an update
    /// `"kubectl-client-side-apply" using v1 at 2026-12-06T15:00:00Z`.
    pub manager: String,
    /// The field as the API server names it: `.spec.replicas`, `.spec.containers[name="app"].image`.
    pub field: String,
}

/// A manager, as conflicts name it.
fn described(e: &Entry) -> String {
    match (e.operation, e.time.is_empty()) {
        (Operation::Apply, _) => format!("{:?}", e.manager),
        (Operation::Update, true) => format!("{:?} using {}", e.manager, e.api_version),
        (Operation::Update, false) => {
            format!("{:?} using {} at {}", e.manager, e.api_version, e.time)
        }
    }
}

/// The message of an apply refused for conflicts, as the API server writes it (the managers in
/// order, each with its fields).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager, one.field
        );
    }
    let mut by_manager: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_manager.entry(&c.manager).or_default().push(&c.field);
    }
    let lines: Vec<String> = by_manager
        .iter()
        .flat_map(|(manager, fields)| {
            std::iter::once(format!("conflicts with {manager}:"))
                .chain(fields.iter().map(|f| format!("- {f}")))
        })
        .collect();
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// A path as the API server's conflict messages write it.
fn dotted(path: &[Element]) -> String {
    let mut out = String::new();
    for e in path {
        match e {
            Element::Field(f) => {
                out.push('.');
                out.push_str(f);
            }
            Element::Key(k) | Element::Value(k) => {
                let described = match serde_json::from_str::<Value>(k) {
                    Ok(Value::Object(m)) => m
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    _ => k.clone(),
                };
                out.push_str(&format!("[{described}]"));
            }
        }
    }
    out
}

/// What an apply makes of an object: the object to write and its managers after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub object: Value,
    pub managers: Vec<Entry>,
}

/// Server-side apply of `applied` by `manager` onto `live` (owned by `managers`): the conflicts
/// when there are some and it is not `force`d, else the object and its managers after it.
pub fn apply(
    live: &Value,
    managers: &[Entry],
    applied: &Value,
    manager: &str,
    force: bool,
    time: &str,
) -> Result<Applied, Vec<Conflict>> {
    let wanted = fields_of(applied);
    let mut others: Vec<Entry> = managers
        .iter()
        .filter(|e| !(e.manager == manager && e.operation == Operation::Apply))
        .cloned()
        .collect();
    let before = managers
        .iter()
        .find(|e| e.manager == manager && e.operation == Operation::Apply)
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    // A field both own with the same value is shared; with another, it is a conflict.
    let mut conflicts = Vec::new();
    for path in &wanted.0 {
        if wanted.has_children(path) {
            continue;
        }
        let differs = match (value_at(live, path), value_at(applied, path)) {
            (Some(l), Some(a)) => l != a,
            _ => false,
        };
        if !differs {
            continue;
        }
        for other in others.iter().filter(|e| e.fields.0.contains(path)) {
            conflicts.push(Conflict {
                manager: described(other),
                field: dotted(path),
            });
        }
        if force {
            for other in others.iter_mut() {
                other.fields.0.remove(path);
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }
    let mut object = merge(live, applied, "", "");
    // What this manager applied before and no more goes, unless another owns it or anything
    // in it (a map whose one key another manager set stays, with that key); the deepest first,
    // so an item goes with what is in it.
    let mut gone: Vec<&Path> = before
        .0
        .iter()
        .filter(|p| !wanted.0.contains(*p))
        .filter(|p| {
            !others
                .iter()
                .any(|e| e.fields.0.iter().any(|q| q.starts_with(p)))
        })
        .collect();
    gone.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in gone {
        remove_at(&mut object, path);
    }
    others.retain(|e| !e.fields.is_empty());
    let mut out = others;
    if !wanted.is_empty() {
        out.push(Entry {
            manager: manager.to_string(),
            operation: Operation::Apply,
            api_version: applied["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            time: time.to_string(),
            fields: wanted,
        });
    }
    Ok(Applied {
        object,
        managers: out,
    })
}

/// The managers after `manager` changed an object from `old` (None: created it) to `new` by
/// anything but an apply: it owns what it changed, which the others no longer do, and what is
/// gone from the object is owned by none.
pub fn update(
    old: Option<&Value>,
    new: &Value,
    managers: &[Entry],
    manager: &str,
    time: &str,
) -> Vec<Entry> {
    let after = fields_of(new);
    let changed: BTreeSet<Path> = after
        .0
        .iter()
        .filter(|p| match old {
            None => true,
            // An item or map is changed when it is new; a value, when it differs.
            Some(old) if after.has_children(p) => value_at(old, p).is_none(),
            Some(old) => value_at(old, p) != value_at(new, p),
        })
        .cloned()
        .collect();
    let mut out: Vec<Entry> = managers
        .iter()
        .cloned()
        .map(|mut e| {
            e.fields
                .0
                .retain(|p| after.0.contains(p) && !changed.contains(p));
            e
        })
        .collect();
    if !changed.is_empty() {
        match out
            .iter_mut()
            .find(|e| e.manager == manager && e.operation == Operation::Update)
        {
            Some(mine) => {
                mine.fields.0.extend(changed);
                mine.time = time.to_string();
            }
            None => out.push(Entry {
                manager: manager.to_string(),
                operation: Operation::Update,
                api_version: new["apiVersion"].as_str().unwrap_or_default().to_string(),
                time: time.to_string(),
                fields: FieldSet(changed),
            }),
        }
    }
    out.retain(|e| !e.fields.is_empty());
    out
}

/// The manager a request names (`fieldManager`), else the first word of its user agent, as the
/// API server makes it (`kubectl/v1.33.0 (linux/amd64) …` → `kubectl`).
pub fn manager_of(field_manager: Option<&str>, user_agent: Option<&str>) -> String {
    match field_manager.filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => user_agent
            .and_then(|ua| ua.split('/').next())
            .filter(|m| !m.is_empty())
            .unwrap_or("unknown")
            .chars()
            .take(128)
            .collect(),
    }
}

/// The owners of every object the server has seen written: its managers, by object, with the
/// object's uid once known (an object made again under the same name starts afresh).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    pub objects: BTreeMap<String, (Option<String>, Vec<Entry>)>,
}

impl Ledger {
    /// The managers of `key` if they are those of the object with `uid`.
    pub fn of(&self, key: &str, uid: Option<&str>) -> Vec<Entry> {
        match self.objects.get(key) {
            Some((known, entries)) if known.is_none() || known.as_deref() == uid => entries.clone(),
            _ => Vec::new(),
        }
    }

    pub fn set(&mut self, key: String, uid: Option<String>, entries: Vec<Entry>) {
        if entries.is_empty() {
            self.objects.remove(&key);
        } else {
            self.objects.insert(key, (uid, entries));
        }
    }

    /// Keeps only what belongs to objects that exist (`uids`: key → uid), each learning its
    /// uid; an object written but not seen yet keeps its managers until it is. Whether anything
    /// changed.
    pub fn settle(&mut self, uids: &BTreeMap<String, Option<String>>) -> bool {
        let before = self.clone();
        self.objects.retain(|key, (known, _)| match uids.get(key) {
            None => known.is_none(),
            Some(uid) => known.is_none() || known == uid,
        });
        for (key, (known, _)) in self.objects.iter_mut() {
            if known.is_none() {
                *known = uids.get(key).cloned().flatten();
            }
        }
        *self != before
    }

    pub fn to_json(&self) -> Value {
        Value::Object(
            self.objects
                .iter()
                .map(|(k, (uid, entries))| {
                    (
                        k.clone(),
                        json!({"uid": uid, "managedFields": entries.iter().map(Entry::to_json).collect::<Vec<_>>()}),
                    )
                })
                .collect(),
        )
    }

    pub fn from_json(v: &Value) -> Ledger {
        let mut ledger = Ledger::default();
        for (k, o) in v.as_object().into_iter().flatten() {
            let entries: Vec<Entry> = o["managedFields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Entry::from_json)
                .collect();
            ledger.set(k.clone(), o["uid"].as_str().map(str::to_string), entries);
        }
        ledger
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(image: &str, replicas: i64, labels: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": labels},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "app", "image": image, "ports": [{"containerPort": 80}]},
            ]}}},
        })
    }

    #[test]
    fn fields_render_as_the_api_server_writes_them_and_read_back() {
        let set = fields_of(&deployment("a:1", 2, json!({"app": "web"})));
        let v1 = set.to_fields_v1();
        assert_eq!(
            v1,
            json!({
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}, "f:ports": {
                        "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}},
                    }},
                }}}},
            })
        );
        assert_eq!(FieldSet::from_fields_v1(&v1), set);
    }

    #[test]
    fn an_apply_sets_its_fields_and_removes_those_it_no_longer_applies() {
        let first = deployment("a:1", 2, json!({"app": "web", "tier": "front"}));
        let made = apply(&json!({}), &[], &first, "helm", false, "t1").expect("no conflict");
        assert_eq!(made.managers.len(), 1);
        // A controller scales it: another manager's value, untouched by the next apply.
        let mut live = made.object.clone();
        live["status"] = json!({"replicas": 2});
        let managers = update(
            Some(&made.object),
            &live,
            &made.managers,
            "kube-controller-manager",
            "t2",
        );
        assert_eq!(managers, made.managers, "status is nobody's");
        let second = deployment("a:2", 2, json!({"app": "web"}));
        let next = apply(&live, &managers, &second, "helm", false, "t3").expect("no conflict");
        assert_eq!(
            next.object["spec"]["template"]["spec"]["containers"][0]["image"],
            "a:2"
        );
        assert_eq!(
            next.object["metadata"]["labels"],
            json!({"app": "web"}),
            "tier was dropped"
        );
        assert_eq!(next.object["status"], json!({"replicas": 2}));
    }

    #[test]
    fn another_managers_value_is_a_conflict_unless_forced() {
        let first = deployment("a:1", 2, json!({"app": "web"}));
        let made = apply(&json!({}), &[], &first, "helm", false, "t1").expect("made");
        // `kubectl scale` (an update) takes spec.replicas.
        let mut scaled = made.object.clone();
        scaled["spec"]["replicas"] = json!(5);
        let managers = update(
            Some(&made.object),
            &scaled,
            &made.managers,
            "kubectl",
            "2026-12-06T15:00:00Z",
        );
        let owner = |p: &str| -> Vec<String> {
            managers
                .iter()
                .filter(|e| e.fields.0.iter().any(|f| dotted(f) == p))
                .map(|e| e.manager.clone())
                .collect()
        };
        assert_eq!(owner(".spec.replicas"), ["kubectl"]);
        // The same value applied again: shared, no conflict.
        let same = deployment("a:1", 5, json!({"app": "web"}));
        assert!(apply(&scaled, &managers, &same, "helm", false, "t3").is_ok());
        let again = apply(&scaled, &managers, &first, "helm", false, "t3").expect_err("a conflict");
        assert_eq!(
            again,
            [Conflict {
                manager: "\"kubectl\" using apps/v1 at 2026-12-06T15:00:00Z".into(),
                field: ".spec.replicas".into(),
            }]
        );
        assert_eq!(
            conflict_message(&again),
            "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1 at 2026-12-06T15:00:00Z: .spec.replicas"
        );
        let forced = apply(&scaled, &managers, &first, "helm", true, "t4").expect("forced");
        assert_eq!(forced.object["spec"]["replicas"], 2);
        assert!(
            forced.managers.iter().all(|e| e.manager == "helm"),
            "{:?}",
            forced.managers
        );
    }

    #[test]
    fn a_field_another_manager_also_owns_stays_when_the_applier_lets_it_go() {
        let cm = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data});
        let made = apply(
            &json!({}),
            &[],
            &cm(json!({"a": "1", "b": "2"})),
            "one",
            false,
            "t",
        )
        .expect("made");
        let both = apply(
            &made.object,
            &made.managers,
            &cm(json!({"b": "2"})),
            "two",
            false,
            "t",
        )
        .expect("shared");
        let dropped = apply(
            &both.object,
            &both.managers,
            &cm(json!({"a": "1"})),
            "one",
            false,
            "t",
        )
        .expect("ok");
        assert_eq!(
            dropped.object["data"],
            json!({"a": "1", "b": "2"}),
            "two still owns b"
        );
        let left = apply(
            &dropped.object,
            &dropped.managers,
            &cm(json!({"c": "3"})),
            "two",
            false,
            "t",
        )
        .expect("ok");
        assert_eq!(left.object["data"], json!({"a": "1", "c": "3"}));
        // A key another manager added by an update stays when the appliers drop the whole map.
        let mut patched = left.object.clone();
        patched["data"]["d"] = json!("4");
        let managers = update(Some(&left.object), &patched, &left.managers, "ops", "t");
        let bare = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let one_gone = apply(&patched, &managers, &bare, "one", false, "t").expect("ok");
        let all_gone = apply(
            &one_gone.object,
            &one_gone.managers,
            &bare,
            "two",
            false,
            "t",
        )
        .expect("ok");
        assert_eq!(all_gone.object["data"], json!({"d": "4"}));
        let messages = conflict_message(&[
            Conflict {
                manager: "\"x\"".into(),
                field: ".data.a".into(),
            },
            Conflict {
                manager: "\"x\"".into(),
                field: ".data.b".into(),
            },
        ]);
        assert_eq!(
            messages,
            "Apply failed with 2 conflicts: conflicts with \"x\":\n- .data.a\n- .data.b"
        );
    }

    #[test]
    fn managers_are_named_by_field_manager_else_the_user_agent() {
        assert_eq!(
            manager_of(Some("helm"), Some("kubectl/v1.33.0 (linux/amd64)")),
            "helm"
        );
        assert_eq!(
            manager_of(None, Some("kubectl/v1.33.0 (linux/amd64)")),
            "kubectl"
        );
        assert_eq!(manager_of(Some(""), None), "unknown");
    }

    #[test]
    fn the_ledger_forgets_objects_gone_or_made_again() {
        let entry = |m: &str| Entry {
            manager: m.into(),
            operation: Operation::Update,
            api_version: "v1".into(),
            time: String::new(),
            fields: fields_of(&json!({"data": {"a": "1"}})),
        };
        let mut ledger = Ledger::default();
        ledger.set("v1/configmaps/default/a".into(), None, vec![entry("x")]);
        ledger.set(
            "v1/configmaps/default/b".into(),
            Some("u2".into()),
            vec![entry("y")],
        );
        ledger.set(
            "v1/configmaps/default/c".into(),
            Some("u3".into()),
            vec![entry("z")],
        );
        let uids = BTreeMap::from([
            (
                "v1/configmaps/default/a".to_string(),
                Some("u1".to_string()),
            ),
            (
                "v1/configmaps/default/b".to_string(),
                Some("other".to_string()),
            ),
        ]);
        assert!(ledger.settle(&uids));
        assert_eq!(ledger.of("v1/configmaps/default/a", Some("u1")).len(), 1);
        assert!(ledger
            .of("v1/configmaps/default/b", Some("other"))
            .is_empty());
        assert!(ledger.of("v1/configmaps/default/c", Some("u3")).is_empty());
        assert_eq!(Ledger::from_json(&ledger.to_json()), ledger);
    }
}
