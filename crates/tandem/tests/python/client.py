"""The Python `kubernetes` client against `tandem serve` (run by serve_root.rs): list, create,
watch from a list's version, read a log, delete, and see the deletion in a watch. Exits non-zero
with the reason on the first thing that differs from a cluster."""

import sys

from kubernetes import client, config, watch

IMAGE = sys.argv[1]

config.load_kube_config()
v1 = client.CoreV1Api()

names = [n.metadata.name for n in v1.list_namespace().items]
assert "default" in names and "kube-system" in names, names

pods = v1.list_namespaced_pod("default")
start = pods.metadata.resource_version
assert start, "a list has a resourceVersion"

pod = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "py", "labels": {"app": "py"}},
    "spec": {
        "terminationGracePeriodSeconds": 2,
        "containers": [{
            "name": "app",
            "image": IMAGE,
            "imagePullPolicy": "Never",
            "command": ["sh", "-c", "trap 'exit 0' TERM; echo hello from py; while true; do sleep 0.2; done"],
        }],
    },
}
created = v1.create_namespaced_pod("default", pod)
assert created.metadata.uid, "a created pod has a uid"

try:
    v1.create_namespaced_pod("default", pod)
    raise AssertionError("a second create of the same name succeeded")
except client.ApiException as e:
    assert e.status == 409, e.status

# Watched from the version of the first list: the pod is added, then becomes Running.
w = watch.Watch()
seen = []
for event in w.stream(v1.list_namespaced_pod, "default", resource_version=start,
                      label_selector="app=py", timeout_seconds=60):
    seen.append(event["type"])
    if event["object"].status.phase == "Running":
        w.stop()
assert seen[0] == "ADDED", seen

log = v1.read_namespaced_pod_log("py", "default")
assert log.startswith("hello from py"), log

v1.delete_namespaced_pod("py", "default")
gone = False
for event in w.stream(v1.list_namespaced_pod, "default", field_selector="metadata.name=py",
                      timeout_seconds=60):
    if event["type"] == "DELETED":
        gone = True
        w.stop()
assert gone, "the deletion was watched"

try:
    v1.read_namespaced_pod("py", "default")
    raise AssertionError("a deleted pod is still there")
except client.ApiException as e:
    assert e.status == 404, e.status
print("ok")
