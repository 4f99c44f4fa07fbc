"""deploy/: the compose stack, HAProxy's config and the Kubernetes manifests agree with each other
and with llminst.

No container engine or cluster runs here, so these check what can be checked offline: every
file parses; the `llminst serve` command lines parse with llminst's own parser and pass its HTTP
option checks (a renamed or removed flag fails here); the config files load with llminst's
loader; ports, names, labels and selectors that must match do; HAProxy accepts its config
(``haproxy -c``, installed by .ci/run).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from llminst.cli.parser import parse_args
from llminst.configfile import load_config
from llminst.transports import check_http_options
from llminst.transports.asgi import HEALTH_PATH

from ..support.paths import ROOT

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def _interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with nothing set: the default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def _serve_args(command: list[str], token: str = "a-token") -> Any:
    """Parse a replica's command as `llminst` would and run serve's HTTP option checks."""
    args = parse_args(command)
    assert args.command == "serve" and args.transport == "http" and args.stateless
    check_http_options(args.host, args.port, token, args.allow_host)
    return args


def _manifests() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return documents


def _of_kind(kind: str) -> Iterator[dict[str, Any]]:
    return (d for d in _manifests() if d["kind"] == kind)


def _named(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in _of_kind(kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"no single {kind} {name!r}"
    return found[0]


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _haproxy() -> str:
    return (DEPLOY / "haproxy.cfg").read_text()


# --------------------------------------------------------------------------------------------
# compose.yaml, haproxy.cfg, the Dockerfile


def test_compose_runs_three_stateless_replicas_on_the_redis_service() -> None:
    """The replicas' command parses with llminst's parser, serves stateless HTTP on all
    interfaces, and its store is the compose file's Redis service on Redis's port."""
    compose = _compose()
    replica = compose["services"]["llminst"]
    args = _serve_args([_interpolate(str(part)) for part in replica["command"]])
    assert args.host == "0.0.0.0" and replica["deploy"]["replicas"] == 3
    store = urlsplit(args.store)
    assert store.scheme == "redis" and store.hostname in compose["services"]
    assert store.port == 6379 and "6379" not in str(compose["services"]["redis"].get("ports"))
    assert replica["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_files_and_health_check_agree_with_the_replica() -> None:
    """Everything the compose file mounts or builds exists; the token comes from the env file
    (whose example names it); the health check asks the replica's port for /healthz."""
    replica = _compose()["services"]["llminst"]
    args = _serve_args([_interpolate(str(part)) for part in replica["command"]])
    assert (DEPLOY / replica["env_file"]).with_suffix(".env.example").exists()
    example = (DEPLOY / "llminst.env.example").read_text()
    assert re.search(r"^LLMINST_HTTP_TOKEN=", example, re.MULTILINE)
    for service in _compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume
    build = replica["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).exists()
    probe = " ".join(replica["healthcheck"]["test"])
    assert f"http://127.0.0.1:{args.port}{HEALTH_PATH}" in probe
    config_path = replica["environment"]["LLMINST_CONFIG"]
    assert any(v.endswith(f":{config_path}:ro") for v in replica["volumes"])


def test_haproxy_balances_over_every_replica_and_checks_their_health() -> None:
    """HAProxy's servers are the compose service on the replicas' port, as many as there are
    replicas; its check is /healthz; its frontend is the port compose publishes."""
    compose = _compose()
    replica = compose["services"]["llminst"]
    args = _serve_args([_interpolate(str(part)) for part in replica["command"]])
    config = _haproxy()
    template = re.search(r"^\s*server-template \S+ (\d+) (\S+):(\d+) ", config, re.MULTILINE)
    assert template is not None
    count, service, port = template.groups()
    assert int(count) == replica["deploy"]["replicas"]
    assert service == "llminst" and int(port) == args.port
    assert f"option httpchk GET {HEALTH_PATH}" in config
    directives = [
        line.split()[0]
        for line in config.splitlines()
        if line.strip() and line.split()[0][0] != "#"
    ]
    assert not {"stick", "stick-table", "cookie", "hash-type"} & set(directives)  # no affinity
    bind = re.search(r"^\s*bind :(\d+)$", config, re.MULTILINE)
    assert bind is not None
    assert compose["services"]["haproxy"]["ports"] == [f"{bind.group(1)}:{bind.group(1)}"]


@pytest.mark.skipif(
    shutil.which("haproxy") is None, reason="haproxy not installed (.ci/run installs it)"
)
def test_haproxy_accepts_its_config(tmp_path: Path) -> None:
    """``haproxy -c`` on the config; and, so the check can fail, on a broken copy of it."""
    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(DEPLOY / "haproxy.cfg")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "haproxy.cfg"
    broken.write_text(_haproxy().replace("balance leastconn", "balance nowhere"))
    refused = subprocess.run(["haproxy", "-c", "-f", str(broken)], capture_output=True, text=True)
    assert refused.returncode != 0


def test_the_dockerfile_serves_what_compose_and_kubernetes_expect() -> None:
    """The image's default command is a stateless HTTP replica on the port it exposes, run by
    a user that is not root, with the [redis] extra installed."""
    text = (DEPLOY / "Dockerfile").read_text()
    entry = re.search(r'^ENTRYPOINT \["llminst"\]$', text, re.MULTILINE)
    cmd = re.search(r"^CMD (\[.*\])$", text, re.MULTILINE)
    assert entry is not None and cmd is not None
    args = _serve_args(yaml.safe_load(cmd.group(1)))
    assert re.search(rf"^EXPOSE {args.port}$", text, re.MULTILINE)
    user = re.search(r"^USER (\S+)$", text, re.MULTILINE)
    assert user is not None and user.group(1) not in ("root", "0")
    assert "[redis]" in text


@pytest.mark.parametrize("source", ["compose", "k8s"])
def test_the_shipped_llminst_config_loads(tmp_path: Path, source: str) -> None:
    """The config the replicas read (deploy/llminst.toml, and the ConfigMap's copy) loads with
    llminst's own loader: a misspelt key would stop every replica at start."""
    if source == "compose":
        path = DEPLOY / "llminst.toml"
    else:
        path = tmp_path / "llminst.toml"
        path.write_text(_named("ConfigMap", "llminst-config")["data"]["llminst.toml"])
    config = load_config(path)
    assert config.settings.memory_reserve_mb > 0
    assert "claude" in config.models


# --------------------------------------------------------------------------------------------
# k8s/


def test_kustomization_lists_every_manifest() -> None:
    """``kubectl apply -k deploy/k8s`` applies every file in the folder."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests
    kinds = {d["kind"] for d in _manifests() if "metadata" in d and d["kind"] != "Kustomization"}
    assert {"Deployment", "Service", "Secret", "ConfigMap"} <= kinds


def test_every_selector_finds_its_pods() -> None:
    """Each Deployment's selector matches its own pod labels; each Service selects the pods of
    exactly one Deployment, on a port those pods name."""
    deployments = list(_of_kind("Deployment"))
    for deployment in deployments:
        spec = deployment["spec"]
        assert _matches(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"])
    for service in _of_kind("Service"):
        selected = [
            d
            for d in deployments
            if _matches(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(selected) == 1, service["metadata"]["name"]
        ports = {
            p["name"]
            for c in selected[0]["spec"]["template"]["spec"]["containers"]
            for p in c["ports"]
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports


def _llminst_container() -> dict[str, Any]:
    deployment = _named("Deployment", "llminst")
    assert deployment["spec"]["replicas"] == 3
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _expanded_args(container: Mapping[str, Any]) -> list[str]:
    """The container's args with Kubernetes' ``$(VAR)`` filled in (every VAR must be defined
    in its env: an undefined one would be passed literally)."""
    defined = {e["name"] for e in container["env"]}
    used = {m for arg in container["args"] for m in re.findall(r"\$\(([A-Z_]+)\)", arg)}
    assert used <= defined, f"undefined in env: {used - defined}"
    return [re.sub(r"\$\(([A-Z_]+)\)", "default", arg) for arg in container["args"]]


def test_the_llminst_deployment_runs_stateless_replicas_on_the_redis_service() -> None:
    """Three replicas whose args parse with llminst's parser and pass its HTTP checks; the
    store is the Redis Service on its port; the token comes from the Secret."""
    container = _llminst_container()
    args = _serve_args(_expanded_args(container))
    assert args.host == "0.0.0.0"
    store = urlsplit(args.store)
    redis = _named("Service", str(store.hostname))
    assert store.scheme == "redis" and store.port == redis["spec"]["ports"][0]["port"]
    (source,) = container["envFrom"]
    secret = _named("Secret", source["secretRef"]["name"])
    assert "LLMINST_HTTP_TOKEN" in secret["stringData"]
    service = _named("Service", "llminst")
    assert "llminst" in args.allow_host and service["spec"]["ports"][0]["port"] == args.port


def test_the_llminst_pods_are_probed_and_sized_for_claude() -> None:
    """Readiness and liveness ask /healthz on the port llminst listens on; requests and limits
    are set (a claude call peaks at 200-330 MB: the limit holds the server and several)."""
    container = _llminst_container()
    args = _serve_args(_expanded_args(container))
    (port,) = container["ports"]
    assert port["containerPort"] == args.port
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": HEALTH_PATH, "port": port["name"]}
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
    limit = resources["limits"]["memory"]
    assert limit.endswith("Gi") and float(limit[:-2]) * 1024 >= 80 + 2 * 330
    config_map = _named("ConfigMap", "llminst-config")
    env = {e["name"]: e for e in container["env"]}
    assert env["LLMINST_CONFIG"]["value"].startswith(container["volumeMounts"][0]["mountPath"])
    key = env["LLMINST_PUBLIC_HOST"]["valueFrom"]["configMapKeyRef"]
    assert key["name"] == config_map["metadata"]["name"] and key["key"] in config_map["data"]
