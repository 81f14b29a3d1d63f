"""Eviction through the Python kubernetes client, as `kubectl drain` evicts: a pod its
PodDisruptionBudget protects is refused with 429 and the API server's words, one it allows
is deleted and its Deployment replaces it. Argument: the image to run. Prints "ok"."""
import sys
import time

from kubernetes import client, config

IMAGE = sys.argv[1]
config.load_kube_config()
v1 = client.CoreV1Api()
apps = client.AppsV1Api()
policy = client.PolicyV1Api()

apps.create_namespaced_deployment("default", {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "ev"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "ev"}},
        "template": {
            "metadata": {"labels": {"app": "ev"}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "app", "image": IMAGE, "imagePullPolicy": "Never",
                                "command": ["sleep", "3600"]}],
            },
        },
    },
})


def budget(name, min_available):
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name},
            "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": "ev"}}}}


def ready_pods():
    pods = v1.list_namespaced_pod("default", label_selector="app=ev").items
    return sorted(
        p.metadata.name for p in pods
        if p.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))
    )


def wait_for(what, check, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def evict(name):
    return v1.create_namespaced_pod_eviction(name, "default", client.V1Eviction(
        metadata=client.V1ObjectMeta(name=name, namespace="default")))


first = wait_for("two ready pods", lambda: (lambda p: p if len(p) == 2 else None)(ready_pods()))
policy.create_namespaced_pod_disruption_budget("default", budget("strict", 2))
try:
    evict(first[0])
    raise AssertionError("an eviction the budget forbids went through")
except client.ApiException as e:
    assert e.status == 429, e.status
    assert "Cannot evict pod as it would violate the pod's disruption budget." in e.body, e.body
    assert "The disruption budget strict needs 2 healthy pods and has 2 currently" in e.body, e.body
assert ready_pods() == first, "nothing was evicted"

policy.delete_namespaced_pod_disruption_budget("strict", "default")
policy.create_namespaced_pod_disruption_budget("default", budget("loose", 1))
evict(first[0])
# The evicted pod goes; its Deployment makes another.
wait_for("the evicted pod replaced",
         lambda: (lambda p: len(p) == 2 and first[0] not in p)(ready_pods()))

try:
    evict("nobody")
    raise AssertionError("a missing pod was evicted")
except client.ApiException as e:
    assert e.status == 404, e.status

policy.delete_namespaced_pod_disruption_budget("loose", "default")
apps.delete_namespaced_deployment("ev", "default")
print("ok")
