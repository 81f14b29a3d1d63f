//! Resource versions and the watch history, as the API server's watch cache keeps them: every
//! change an object goes through gets the next version, a list is consistent at one version,
//! and a watch from a version replays what changed after it — or is told `410 Gone` when the
//! history no longer reaches back that far, so the client lists again.
//!
//! The store has no versions of its own (supervisors and controllers rewrite JSON files), so
//! versions are given here, to snapshots of the store as they differ. They start at the time
//! the server started, in microseconds: a restarted server never hands out a version an older
//! one gave, and a watch from before the restart is Gone rather than silently short.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;

use crate::resource::Resource;

/// An object of the store, as the backend reads it (without `metadata.resourceVersion`).
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub resource: Resource,
    /// Empty for cluster-scoped resources.
    pub namespace: String,
    pub name: String,
    pub value: Value,
}

impl Object {
    /// An object of `resource` named by its own metadata (`default` when it names no
    /// namespace and the resource has them).
    pub fn from_value(resource: Resource, value: Value) -> Object {
        let meta = &value["metadata"];
        let namespace = match resource.namespaced() {
            true => meta["namespace"].as_str().unwrap_or("default").to_string(),
            false => String::new(),
        };
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        Object {
            resource,
            namespace,
            name,
            value,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub resource: Resource,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, with the object as it stands after it (as it last stood, for a deletion), its
/// `metadata.resourceVersion` set.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub version: u64,
    pub kind: EventType,
    pub key: Key,
    pub object: Arc<Value>,
    /// The object as it stood before (None for an addition).
    pub previous: Option<Arc<Value>>,
}

/// The history reaches back this many changes; a watch from before them is Gone.
const HISTORY: usize = 4096;

#[derive(Debug)]
pub struct Cache {
    /// The version of the last change (or the start).
    current: u64,
    objects: BTreeMap<Key, (u64, Arc<Value>)>,
    history: VecDeque<Change>,
    /// The oldest version a watch may start from.
    oldest: u64,
}

/// A watch asked to start before what the history holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone {
    pub asked: u64,
    pub oldest: u64,
}

impl Cache {
    /// An empty cache whose versions start after `start`.
    pub fn new(start: u64) -> Cache {
        Cache {
            current: start,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            oldest: start,
        }
    }

    pub fn version(&self) -> u64 {
        self.current
    }

    /// Takes a whole snapshot of the store and returns the changes since the last one, each
    /// with a version of its own (a deletion first, then additions and modifications, in key
    /// order).
    pub fn update(&mut self, snapshot: Vec<Object>) -> Vec<Change> {
        let mut fresh: BTreeMap<Key, Value> = BTreeMap::new();
        for o in snapshot {
            fresh.insert(
                Key {
                    resource: o.resource,
                    namespace: o.namespace,
                    name: o.name,
                },
                o.value,
            );
        }
        let gone: Vec<Key> = self
            .objects
            .keys()
            .filter(|k| !fresh.contains_key(*k))
            .cloned()
            .collect();
        let mut changes: Vec<Change> = gone.into_iter().filter_map(|k| self.remove(k)).collect();
        for (key, mut value) in fresh {
            // Another object under the same name (its uid changed: deleted and made again
            // between two snapshots) is a deletion, then an addition, as a watch of the API
            // server shows it; a client waiting for the first to go sees it go.
            let replaced = self.objects.get(&key).is_some_and(|(_, old)| {
                let uid = |v: &Value| v["metadata"]["uid"].as_str().map(str::to_string);
                uid(old).is_some() && uid(old) != uid(&value)
            });
            if replaced {
                changes.extend(self.remove(key.clone()));
            }
            let (kind, previous) = match self.objects.get(&key) {
                None => (EventType::Added, None),
                Some((version, old)) => {
                    let mut unversioned = value.clone();
                    set_version(&mut unversioned, *version);
                    if **old == unversioned {
                        continue;
                    }
                    (EventType::Modified, Some(Arc::clone(old)))
                }
            };
            self.current += 1;
            set_version(&mut value, self.current);
            let object = Arc::new(value);
            self.objects
                .insert(key.clone(), (self.current, Arc::clone(&object)));
            changes.push(Change {
                version: self.current,
                kind,
                key,
                object,
                previous,
            });
        }
        for c in &changes {
            self.history.push_back(c.clone());
        }
        while self.history.len() > HISTORY {
            if let Some(dropped) = self.history.pop_front() {
                self.oldest = dropped.version;
            }
        }
        changes
    }

    /// Forgets an object, and says so as a deletion with a version of its own.
    fn remove(&mut self, key: Key) -> Option<Change> {
        let (_, last) = self.objects.remove(&key)?;
        self.current += 1;
        let mut object = (*last).clone();
        set_version(&mut object, self.current);
        Some(Change {
            version: self.current,
            kind: EventType::Deleted,
            key,
            object: Arc::new(object),
            previous: Some(last),
        })
    }

    /// The objects of `resource`, of one namespace or all, in namespace and name order.
    pub fn list(&self, resource: Resource, namespace: Option<&str>) -> Vec<Arc<Value>> {
        self.objects
            .iter()
            .filter(|(k, _)| k.resource == resource && namespace.is_none_or(|n| k.namespace == n))
            .map(|(_, (_, v))| Arc::clone(v))
            .collect()
    }

    pub fn get(&self, resource: Resource, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let key = Key {
            resource,
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        self.objects.get(&key).map(|(_, v)| Arc::clone(v))
    }

    /// The changes after `version`, for a watch that starts there.
    pub fn since(&self, version: u64) -> Result<Vec<Change>, Gone> {
        if version < self.oldest {
            return Err(Gone {
                asked: version,
                oldest: self.oldest,
            });
        }
        Ok(self
            .history
            .iter()
            .filter(|c| c.version > version)
            .cloned()
            .collect())
    }
}

fn set_version(object: &mut Value, version: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(version.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, phase: &str) -> Object {
        Object {
            resource: Resource::Pods,
            namespace: "default".into(),
            name: name.into(),
            value: json!({"metadata": {"name": name}, "status": {"phase": phase}}),
        }
    }

    #[test]
    fn versions_grow_with_each_change_and_only_with_a_change() {
        let mut c = Cache::new(100);
        let first = c.update(vec![pod("a", "Pending"), pod("b", "Pending")]);
        assert_eq!(
            first
                .iter()
                .map(|c| (c.version, c.kind))
                .collect::<Vec<_>>(),
            vec![(101, EventType::Added), (102, EventType::Added)]
        );
        assert_eq!(first[1].object["metadata"]["resourceVersion"], "102");
        // The same snapshot again is no change.
        assert!(c
            .update(vec![pod("a", "Pending"), pod("b", "Pending")])
            .is_empty());
        let next = c.update(vec![pod("a", "Running")]);
        assert_eq!(
            next.iter()
                .map(|c| (c.version, c.kind, c.key.name.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (103, EventType::Deleted, "b"),
                (104, EventType::Modified, "a")
            ]
        );
        assert_eq!(c.version(), 104);
        assert_eq!(
            c.get(Resource::Pods, "default", "a")
                .map(|v| v["status"]["phase"].clone()),
            Some(json!("Running"))
        );
        assert_eq!(c.list(Resource::Pods, Some("other")).len(), 0);
        // A watch from the first list sees both later changes; one from the start all four.
        assert_eq!(c.since(102).map(|v| v.len()), Ok(2));
        assert_eq!(c.since(100).map(|v| v.len()), Ok(4));
        assert_eq!(
            c.since(99),
            Err(Gone {
                asked: 99,
                oldest: 100
            })
        );
    }

    /// An object made again under its name between two snapshots (a new uid) is seen deleted,
    /// then added, as the API server's watch shows a delete and a create.
    #[test]
    fn an_object_made_again_under_its_name_is_a_deletion_then_an_addition() {
        let with_uid = |uid: &str, phase: &str| {
            let mut p = pod("a", phase);
            p.value["metadata"]["uid"] = json!(uid);
            p
        };
        let mut c = Cache::new(0);
        c.update(vec![with_uid("u1", "Running")]);
        let kinds = |changes: Vec<Change>| -> Vec<(EventType, Option<String>)> {
            changes
                .iter()
                .map(|c| {
                    (
                        c.kind,
                        c.object["metadata"]["uid"].as_str().map(str::to_string),
                    )
                })
                .collect()
        };
        assert_eq!(
            kinds(c.update(vec![with_uid("u2", "Running")])),
            [
                (EventType::Deleted, Some("u1".into())),
                (EventType::Added, Some("u2".into()))
            ]
        );
        assert_eq!(
            kinds(c.update(vec![with_uid("u2", "Succeeded")])),
            [(EventType::Modified, Some("u2".into()))]
        );
    }

    #[test]
    fn a_watch_from_before_the_history_is_gone() {
        let mut c = Cache::new(0);
        for i in 0..(HISTORY + 10) {
            c.update(vec![pod("a", &i.to_string())]);
        }
        assert!(c.since(5).is_err());
        let from = c.version() - 3;
        assert_eq!(c.since(from).map(|v| v.len()), Ok(3));
    }
}
