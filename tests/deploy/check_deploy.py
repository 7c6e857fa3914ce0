#!/usr/bin/python3
"""Consistency checks over deploy/: the systemd unit, the container image, compose and Kubernetes.

Parses every YAML file under deploy/ (all documents) and checks that the pieces agree with each
other and with the sources: ports (listen addresses, EXPOSE, container ports, Service targetPorts,
probes, scrape annotations), image names, referenced Secrets/ConfigMaps/keys/mounted files, the
kustomization's resource list, compose's health checks and start order, that packages are only
installed from the lists in scripts/, and that every TOKENLEDGER_* variable, command-line flag and
TOML key used is one tokenledgerd (or the tokenledger CLI) knows.

With --daemon/--cli (the built binaries): every shared library they link comes from a package of
scripts/packages-runtime.txt. With --build-dir: `cmake --install` into a scratch directory
provides every path the deployment files name (binaries, migrations).

Run with /usr/bin/python3 (Debian's, which has python3-yaml). Exit status 0: all checks pass;
1: the failures are listed.

Usage: tests/deploy/check_deploy.py [--daemon BIN] [--cli BIN] [--build-dir DIR]
"""

import argparse
import glob
import os
import re
import shlex
import subprocess
import sys
import tempfile
import tomllib

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(REPO, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")
DOCKERFILE = os.path.join(DEPLOY, "container", "Dockerfile")
COMPOSE = os.path.join(DEPLOY, "container", "compose.yaml")
UNIT = os.path.join(DEPLOY, "systemd", "tokenledgerd.service")
UNIT_ENV = os.path.join(DEPLOY, "systemd", "tokenledgerd.env.example")
RUNTIME_PACKAGES = os.path.join(REPO, "scripts", "packages-runtime.txt")
INSTALL_PREFIX = "/usr/local"
# Libraries every Debian system has (Essential: yes); not listed in packages-runtime.txt.
BASE_PACKAGES = {"libc6"}
ENV_RE = re.compile(r"\bTOKENLEDGER_[A-Z0-9_]*[A-Z0-9]\b")
FLAG_RE = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")

failures = []


def fail(where, message):
    failures.append(f"{os.path.relpath(where, REPO)}: {message}")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def port_of(address):
    """The port of HOST:PORT (also [v6]:PORT), as an int; None when there is none."""
    m = re.search(r":(\d+)$", str(address))
    return int(m.group(1)) if m else None


def list_file_packages(path):
    """Package names of a scripts/packages*.txt list (comments and blank lines stripped)."""
    names = []
    for line in read(path).splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


# ---- what the daemon knows ------------------------------------------------------------------


def known_names():
    """(env names, flag names with underscores) that tokenledgerd and the CLI know.

    The daemon's flags are the table kFlags in src/server/config.cc ({"name", ...} entries), plus
    --config and --migrate-only; each flag's variable is TOKENLEDGER_<NAME>, and
    TOKENLEDGER_OPERATOR_KEY holds the operator key itself.
    """
    config_cc = read(os.path.join(REPO, "src", "server", "config.cc"))
    m = re.search(r"kFlags\[\] = \{(.*?)\n\};", config_cc, re.S)
    if not m:
        fail("src/server/config.cc", "no kFlags table found")
        return set(), set()
    flags = {n.replace("-", "_") for n in re.findall(r'^\s*\{"([a-z][a-z0-9-]*)",', m.group(1), re.M)}
    if not flags:
        fail("src/server/config.cc", "kFlags lists no flag")
    flags.update({"config", "migrate_only"})
    envs = {"TOKENLEDGER_" + f.upper() for f in flags if f != "migrate_only"}
    envs.add("TOKENLEDGER_OPERATOR_KEY")
    # The CLI's variables (TOKENLEDGER_KEY, TOKENLEDGER_TARGET) appear in examples; not flags.
    for path in glob.glob(os.path.join(REPO, "src", "cli", "*.cc")):
        envs.update(ENV_RE.findall(read(path)))
    return envs, flags


ENVS, FLAGS = known_names()


def is_known_flag(name):
    return name.replace("-", "_") in FLAGS


def is_known_env(name):
    return name in ENVS or is_known_flag(name[len("TOKENLEDGER_"):].lower())


# ---- YAML -----------------------------------------------------------------------------------


def load_yaml_files():
    docs = {}
    paths = sorted(glob.glob(os.path.join(DEPLOY, "**", "*.yaml"), recursive=True) +
                   glob.glob(os.path.join(DEPLOY, "**", "*.yml"), recursive=True))
    if not paths:
        fail(DEPLOY, "no YAML files")
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                docs[path] = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            fail(path, f"does not parse: {e}")
            continue
        if not docs[path]:
            fail(path, "holds no document")
    return docs


def k8s_objects(docs):
    """(path, object) for every Kubernetes object under deploy/kubernetes (examples included)."""
    out = []
    for path, ds in docs.items():
        if os.path.dirname(path) != K8S:
            continue
        for d in ds:
            if not isinstance(d, dict) or "kind" not in d or "apiVersion" not in d:
                fail(path, "a document without kind/apiVersion")
                continue
            if d["kind"] != "Kustomization" and not d.get("metadata", {}).get("name"):
                fail(path, f"{d['kind']} without metadata.name")
                continue
            out.append((path, d))
    return out


# ---- the container image --------------------------------------------------------------------


def dockerfile_instructions():
    """[(stage index, INSTRUCTION, arguments)] with continuation lines joined."""
    text = re.sub(r"\\\n", " ", "\n".join(
        line for line in read(DOCKERFILE).splitlines() if not line.lstrip().startswith("#")))
    out, stage = [], -1
    for line in text.splitlines():
        if not line.strip():
            continue
        instr, _, args = line.strip().partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stage += 1
        out.append((stage, instr, args.strip()))
    return out


def exec_form(args):
    """The words of a JSON-array (exec form) or shell-form instruction argument."""
    args = args.strip()
    if args.startswith("["):
        return re.findall(r'"((?:[^"\\]|\\.)*)"', args)
    return shlex.split(args)


def check_dockerfile():
    """Checks the Dockerfile and returns what the others compare with it."""
    instrs = dockerfile_instructions()
    final = max(s for s, _, _ in instrs)
    env, exposed, copied, health_port, entrypoint = {}, set(), {}, None, None
    for stage, instr, args in instrs:
        if instr == "RUN" and re.search(r"\bapt(-get)?\s+install\b", args):
            fail(DOCKERFILE, "installs packages with apt-get directly: use scripts/deps.sh and "
                 "the lists in scripts/ (one package list, not two)")
        if instr == "RUN":
            for m in re.finditer(r"deps\.sh((?:\s+[^\s&;|]+)*)", args):
                lists = [os.path.basename(p) for p in m.group(1).split()]
                want = ["packages-runtime.txt"] if stage == final else ["packages.txt"]
                if lists != want:
                    fail(DOCKERFILE, f"stage {stage} installs {lists or 'the default lists'}, "
                         f"want {want}")
        if instr == "COPY" and not args.startswith("--from"):
            words = args.split()
            for src in words[:-1]:
                copied[src] = stage
                if src != "." and not os.path.exists(os.path.join(REPO, src)):
                    fail(DOCKERFILE, f"COPY {src}: no such file in the repository")
        if stage != final:
            continue
        if instr == "ENV":
            for m in re.finditer(r"(\w+)=(\S+)", args):
                env[m.group(1)] = m.group(2)
        elif instr == "EXPOSE":
            exposed.update(int(p.split("/")[0]) for p in args.split())
        elif instr == "HEALTHCHECK":
            words = exec_form(args.split("CMD", 1)[1]) if "CMD" in args else []
            if "--target" in words:
                health_port = port_of(words[words.index("--target") + 1])
            if not words:
                fail(DOCKERFILE, "HEALTHCHECK without a command")
        elif instr == "ENTRYPOINT":
            entrypoint = exec_form(args)
        elif instr == "USER":
            if args.split(":")[0] in ("0", "root"):
                fail(DOCKERFILE, "the final stage runs as root")
    if not any(i == "USER" and s == final for s, i, _ in instrs):
        fail(DOCKERFILE, "the final stage has no USER (it would run as root)")
    if "scripts/packages-runtime.txt" not in copied or copied["scripts/packages-runtime.txt"] != final:
        fail(DOCKERFILE, "the final stage does not COPY scripts/packages-runtime.txt")
    grpc_port = port_of(env.get("TOKENLEDGER_LISTEN", ""))
    metrics_port = port_of(env.get("TOKENLEDGER_METRICS_LISTEN", ""))
    if grpc_port is None or metrics_port is None:
        fail(DOCKERFILE, "ENV must set TOKENLEDGER_LISTEN and TOKENLEDGER_METRICS_LISTEN")
    elif exposed != {grpc_port, metrics_port}:
        fail(DOCKERFILE, f"EXPOSE {sorted(exposed)} but the daemon listens on gRPC {grpc_port} "
             f"and metrics {metrics_port}")
    if health_port != grpc_port:
        fail(DOCKERFILE, f"HEALTHCHECK probes port {health_port}, gRPC listens on {grpc_port}")
    for name in env:
        if name.startswith("TOKENLEDGER_") and not is_known_env(name):
            fail(DOCKERFILE, f"ENV {name} is no tokenledgerd flag")
    version = re.search(r"project\(tokenledger VERSION ([\d.]+)", read(os.path.join(REPO, "CMakeLists.txt")))
    arg_version = re.search(r"^ARG VERSION=(\S+)", read(DOCKERFILE), re.M)
    if version and arg_version and arg_version.group(1) != version.group(1):
        fail(DOCKERFILE, f"ARG VERSION={arg_version.group(1)}, CMakeLists.txt says {version.group(1)}")
    ignored = read(os.path.join(REPO, ".dockerignore")).split()
    for must in ("build", "build-*", ".data"):
        if must not in ignored:
            fail(os.path.join(REPO, ".dockerignore"), f"does not exclude {must}")
    return {"exposed": exposed, "grpc": grpc_port, "metrics": metrics_port, "env": env,
            "entrypoint": entrypoint, "version": version.group(1) if version else None}


def check_compose(docs, image):
    compose = docs.get(COMPOSE, [None])[0]
    if not isinstance(compose, dict) or "services" not in compose:
        fail(COMPOSE, "no services")
        return
    services = compose["services"]
    env_example = os.path.join(os.path.dirname(COMPOSE), ".env.example")
    defined = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", read(env_example), re.M))
    for var in set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", read(COMPOSE))):
        if var not in defined:
            fail(COMPOSE, f"${{{var}}} is not in {os.path.basename(env_example)}")

    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            if dep not in services:
                fail(COMPOSE, f"{name} depends on unknown service {dep}")
                continue
            cond = spec.get("condition") if isinstance(spec, dict) else None
            hc = services[dep].get("healthcheck")
            if cond == "service_healthy" and (not hc or hc.get("disable") or not hc.get("test")):
                fail(COMPOSE, f"{name} waits for {dep} to be healthy, {dep} has no healthcheck")
            if cond == "service_completed_successfully" and services[dep].get("restart", "no") != "no":
                fail(COMPOSE, f"{name} waits for {dep} to complete, but {dep} restarts")
            if cond not in ("service_healthy", "service_completed_successfully", "service_started"):
                fail(COMPOSE, f"{name} depends on {dep} without a condition")
        if "build" in svc:
            b = svc["build"]
            dockerfile = os.path.normpath(os.path.join(os.path.dirname(COMPOSE), b.get("context", "."),
                                                       b.get("dockerfile", "Dockerfile")))
            if dockerfile != DOCKERFILE:
                fail(COMPOSE, f"{name} builds {dockerfile}, not {DOCKERFILE}")
            if svc.get("image") != image:
                fail(COMPOSE, f"{name} builds image {svc.get('image')}, the manifests use {image}")
            for var in svc.get("environment") or {}:
                if var.startswith("TOKENLEDGER_") and not is_known_env(var):
                    fail(COMPOSE, f"{name}: {var} is no tokenledgerd flag")
            for word in svc.get("command") or []:
                for flag in FLAG_RE.findall(word):
                    if not is_known_flag(flag):
                        fail(COMPOSE, f"{name}: --{flag} is no tokenledgerd flag")

    pg = services.get("postgres")
    if not pg or not str(pg.get("image", "")).startswith("postgres:15"):
        fail(COMPOSE, "no postgres service with the official postgres:15 image")
    elif "pg_isready" not in " ".join(map(str, (pg.get("healthcheck") or {}).get("test", []))):
        fail(COMPOSE, "postgres's healthcheck does not use pg_isready")

    daemon = services.get("tokenledgerd")
    if not daemon:
        fail(COMPOSE, "no tokenledgerd service")
        return
    env = daemon.get("environment") or {}
    grpc, metrics = port_of(env.get("TOKENLEDGER_LISTEN", "")), port_of(env.get("TOKENLEDGER_METRICS_LISTEN", ""))
    published = {int(str(p).split(":")[-1].split("/")[0]) for p in daemon.get("ports", [])}
    if published != {grpc, metrics}:
        fail(COMPOSE, f"tokenledgerd publishes container ports {sorted(published)}, it listens "
             f"on gRPC {grpc} and metrics {metrics}")
    test = [str(w) for w in (daemon.get("healthcheck") or {}).get("test", [])]
    if "--target" not in test or port_of(test[test.index("--target") + 1]) != grpc:
        fail(COMPOSE, f"tokenledgerd's healthcheck does not probe its gRPC port {grpc}: {test}")
    deps = daemon.get("depends_on") or {}
    if (deps.get("postgres") or {}).get("condition") != "service_healthy":
        fail(COMPOSE, "tokenledgerd does not wait for postgres to be healthy")
    url = str(env.get("TOKENLEDGER_DATABASE_URL", ""))
    m = re.match(r"postgres(?:ql)?://([^:@/]+)(?::[^@]*)?@([^:/]+)(?::(\d+))?/([^?]+)", url)
    if not m:
        fail(COMPOSE, f"tokenledgerd: cannot parse TOKENLEDGER_DATABASE_URL {url}")
    elif pg:
        user, host, _, db = m.groups()
        pg_env = pg.get("environment") or {}
        if host != "postgres" or user != pg_env.get("POSTGRES_USER") or db != pg_env.get("POSTGRES_DB"):
            fail(COMPOSE, f"the database URL (user {user}, host {host}, db {db}) does not match the "
                 "postgres service")


# ---- Kubernetes -----------------------------------------------------------------------------


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_kubernetes(docs, image_info, dockerfile):
    objs = k8s_objects(docs)
    by_kind = {}
    for path, o in objs:
        by_kind.setdefault(o["kind"], []).append((path, o))
    kustomization_path = os.path.join(K8S, "kustomization.yaml")
    kust = next((o for _, o in by_kind.get("Kustomization", [])), None)
    if not kust:
        fail(kustomization_path, "missing")
        return
    listed = kust.get("resources", [])
    files = {os.path.basename(p) for p in glob.glob(os.path.join(K8S, "*.y*ml"))}
    expected = {f for f in files if f != "kustomization.yaml" and ".example." not in f}
    for f in sorted(expected - set(listed)):
        fail(kustomization_path, f"does not list {f}")
    for f in sorted(set(listed) - files):
        fail(kustomization_path, f"lists {f}, which does not exist")
    applied = [(p, o) for p, o in objs if os.path.basename(p) in listed]
    examples = [(p, o) for p, o in objs if ".example." in os.path.basename(p)]

    # Images: the one the Dockerfile builds and compose names.
    repo_name, _, tag = image_info.partition(":")
    images = kust.get("images", [])
    if not any(i.get("name") == repo_name for i in images):
        fail(kustomization_path, f"images: has no entry for {repo_name}")
    for i in images:
        if i.get("name") == repo_name and i.get("newTag") and i["newTag"] != tag:
            fail(kustomization_path, f"newTag {i['newTag']}, compose builds {image_info}")
    if tag != dockerfile["version"]:
        fail(COMPOSE, f"image tag {tag}, CMakeLists.txt version {dockerfile['version']}")

    def find(kind, name, pool):
        return next((o for _, o in pool if o["kind"] == kind and o["metadata"]["name"] == name), None)

    namespace = kust.get("namespace")
    if namespace and not find("Namespace", namespace, applied):
        fail(kustomization_path, f"namespace {namespace} has no Namespace manifest")

    configmaps = {o["metadata"]["name"]: o for _, o in applied if o["kind"] == "ConfigMap"}
    toml_config = {}
    for cm in configmaps.values():
        for key, text in (cm.get("data") or {}).items():
            if key.endswith(".toml"):
                try:
                    toml_config = tomllib.loads(text)
                except tomllib.TOMLDecodeError as e:
                    fail(os.path.join(K8S, "configmap.yaml"), f"{key} does not parse: {e}")
                for k in toml_config:
                    if not is_known_flag(k):
                        fail(os.path.join(K8S, "configmap.yaml"), f"{key}: {k} is no tokenledgerd flag")
    grpc_port, metrics_port = port_of(toml_config.get("listen")), port_of(toml_config.get("metrics_listen"))
    if grpc_port is None or metrics_port is None:
        fail(os.path.join(K8S, "configmap.yaml"), "the TOML config must set listen and metrics_listen")

    workloads = [(p, o) for p, o in applied if o["kind"] in ("StatefulSet", "Deployment")]
    if not workloads:
        fail(K8S, "no StatefulSet or Deployment")
    for path, w in workloads:
        check_workload(path, w, applied, examples, find, image_info, grpc_port, metrics_port, dockerfile)

    pod_labels = [w["spec"]["template"]["metadata"].get("labels", {}) for _, w in workloads]
    container_ports = {}
    for _, w in workloads:
        for c in w["spec"]["template"]["spec"]["containers"]:
            for p in c.get("ports", []):
                container_ports[p.get("name")] = p["containerPort"]
                container_ports[p["containerPort"]] = p["containerPort"]
    for path, svc in [(p, o) for p, o in applied if o["kind"] == "Service"]:
        sel = svc["spec"].get("selector", {})
        if not any(selects(sel, labels) for labels in pod_labels):
            fail(path, f"Service {svc['metadata']['name']} selects no pod")
        for p in svc["spec"].get("ports", []):
            target = container_ports.get(p.get("targetPort", p["port"]))
            if target is None:
                fail(path, f"Service {svc['metadata']['name']} port {p.get('name')}: targetPort "
                     f"{p.get('targetPort')} is no container port")
            elif p["port"] != target:
                fail(path, f"Service {svc['metadata']['name']} port {p['port']} forwards to {target}")
    for path, pdb in [(p, o) for p, o in applied if o["kind"] == "PodDisruptionBudget"]:
        if not any(selects(pdb["spec"]["selector"].get("matchLabels", {}), l) for l in pod_labels):
            fail(path, "the PodDisruptionBudget selects no pod")
    if not by_kind.get("PodDisruptionBudget"):
        fail(K8S, "no PodDisruptionBudget")


def check_workload(path, w, applied, examples, find, image, grpc_port, metrics_port, dockerfile):
    name = w["metadata"]["name"]
    spec = w["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    if not selects(spec["selector"].get("matchLabels", {}), labels):
        fail(path, f"{name}: the selector does not match the pod labels")
    if w["kind"] == "StatefulSet":
        headless = find("Service", spec.get("serviceName"), applied)
        if not headless or headless["spec"].get("clusterIP") != "None":
            fail(path, f"{name}: serviceName {spec.get('serviceName')} is no headless Service")
    ann = spec["template"]["metadata"].get("annotations", {})
    if ann.get("prometheus.io/scrape") != "true" or str(ann.get("prometheus.io/port")) != str(metrics_port):
        fail(path, f"{name}: prometheus.io annotations do not scrape the metrics port {metrics_port}")
    sa = pod.get("serviceAccountName")
    if sa and not find("ServiceAccount", sa, applied):
        fail(path, f"{name}: ServiceAccount {sa} has no manifest")
    psc = pod.get("securityContext", {})
    if not psc.get("runAsNonRoot"):
        fail(path, f"{name}: the pod does not set runAsNonRoot")

    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for v in volumes.values():
        if "configMap" in v:
            check_ref(path, "ConfigMap", v["configMap"]["name"],
                      [i["key"] for i in v["configMap"].get("items", [])], applied, examples, find)
        if "secret" in v:
            check_ref(path, "Secret", v["secret"]["secretName"],
                      [i["key"] for i in v["secret"].get("items", [])], applied, examples, find)

    containers = pod.get("initContainers", []) + pod["containers"]
    for c in containers:
        where = f"{name}/{c['name']}"
        if c.get("image") != image:
            fail(path, f"{where}: image {c.get('image')}, compose builds {image}")
        sc = c.get("securityContext", {})
        if (sc.get("allowPrivilegeEscalation") is not False or not sc.get("readOnlyRootFilesystem")
                or "ALL" not in sc.get("capabilities", {}).get("drop", [])):
            fail(path, f"{where}: securityContext must forbid privilege escalation, make the root "
                 "file system read-only and drop ALL capabilities")
        if not c.get("resources", {}).get("requests") or not c.get("resources", {}).get("limits"):
            fail(path, f"{where}: no resource requests and limits")
        env_names = [e["name"] for e in c.get("env", [])]
        for e in c.get("env", []):
            if e["name"].startswith("TOKENLEDGER_") and not is_known_env(e["name"]):
                fail(path, f"{where}: {e['name']} is no tokenledgerd flag")
            for kind, ref in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                r = e.get("valueFrom", {}).get(ref)
                if r:
                    check_ref(path, kind, r["name"], [r["key"]], applied, examples, find)
            for var in re.findall(r"\$\((\w+)\)", str(e.get("value", ""))):
                if var not in env_names[: env_names.index(e["name"])]:
                    fail(path, f"{where}: {e['name']} uses $({var}), not defined before it")
        mounts = {m["mountPath"].rstrip("/"): volumes.get(m["name"]) for m in c.get("volumeMounts", [])}
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                fail(path, f"{where}: mounts unknown volume {m['name']}")
        for arg in c.get("command", []) + c.get("args", []):
            for flag in FLAG_RE.findall(arg):
                if not is_known_flag(flag):
                    fail(path, f"{where}: --{flag} is no tokenledgerd flag")
            m = re.match(r"--(config|operator-key-file|tls-[a-z-]+)=(/\S+)", arg)
            if m:
                check_mounted_file(path, where, m.group(2), mounts, applied, examples, find)

    main = pod["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in main.get("ports", [])}
    if ports.get("grpc") != grpc_port or ports.get("metrics") != metrics_port:
        fail(path, f"{name}: container ports {ports}, the config listens on gRPC {grpc_port} and "
             f"metrics {metrics_port}")
    if not set(ports.values()) <= dockerfile["exposed"]:
        fail(path, f"{name}: container ports {sorted(ports.values())} not all EXPOSEd by the Dockerfile")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        p = main.get(probe)
        if probe != "startupProbe" and not p:
            fail(path, f"{name}: no {probe}")
        if p and (p.get("grpc") or {}).get("port") != grpc_port:
            fail(path, f"{name}: {probe} is not a gRPC probe of port {grpc_port}")
    env = {e["name"]: e for e in main.get("env", [])}
    if w["kind"] == "StatefulSet":
        pod_name = (env.get("POD_NAME", {}).get("valueFrom") or {}).get("fieldRef", {})
        if pod_name.get("fieldPath") != "metadata.name":
            fail(path, f"{name}: POD_NAME does not come from the downward API (metadata.name)")
        if env.get("TOKENLEDGER_NODE_ID", {}).get("value") != "$(POD_NAME)":
            fail(path, f"{name}: TOKENLEDGER_NODE_ID is not $(POD_NAME)")
        adv = str(env.get("TOKENLEDGER_ADVERTISE_ADDRESS", {}).get("value", ""))
        if not adv.startswith(f"$(POD_NAME).{spec.get('serviceName')}.") or port_of(adv) != grpc_port:
            fail(path, f"{name}: TOKENLEDGER_ADVERTISE_ADDRESS {adv!r} is not the pod's name under "
                 f"{spec.get('serviceName')} with port {grpc_port}")
    if not any("--migrate-only" in c.get("args", []) + c.get("command", [])
               for c in pod.get("initContainers", [])):
        fail(path, f"{name}: no init container runs the migrations (--migrate-only)")


def check_ref(path, kind, name, keys, applied, examples, find):
    obj = find(kind, name, applied) or find(kind, name, examples)
    if obj is None:
        fail(path, f"{kind} {name} is referenced but has no manifest or example")
        return
    have = set((obj.get("data") or {})) | set((obj.get("stringData") or {}))
    for k in keys:
        if k not in have:
            fail(path, f"{kind} {name} has no key {k}")


def check_mounted_file(path, where, file, mounts, applied, examples, find):
    """A file named on the command line is a key of a mounted ConfigMap or Secret."""
    directory, key = os.path.dirname(file), os.path.basename(file)
    volume = mounts.get(directory)
    if volume is None:
        fail(path, f"{where}: {file}: nothing is mounted at {directory}")
        return
    if "configMap" in volume:
        kind, name, items = "ConfigMap", volume["configMap"]["name"], volume["configMap"].get("items")
    elif "secret" in volume:
        kind, name, items = "Secret", volume["secret"]["secretName"], volume["secret"].get("items")
    else:
        fail(path, f"{where}: {file} is on a volume that is neither a ConfigMap nor a Secret")
        return
    if items:
        if key not in [i.get("path") for i in items]:
            fail(path, f"{where}: {file}: volume items do not provide {key}")
    else:
        check_ref(path, kind, name, [key], applied, examples, find)


# ---- systemd, env names in every file -------------------------------------------------------


def check_systemd(dockerfile):
    unit = read(UNIT)
    m = re.search(r"^ExecStart=(\S+)(.*)$", unit, re.M)
    if not m or m.group(1) != f"{INSTALL_PREFIX}/bin/tokenledgerd":
        fail(UNIT, f"ExecStart= is not {INSTALL_PREFIX}/bin/tokenledgerd")
    else:
        for flag in FLAG_RE.findall(m.group(2)):
            if not is_known_flag(flag):
                fail(UNIT, f"ExecStart: --{flag} is no tokenledgerd flag")
    m = re.search(r"^Environment=TOKENLEDGER_MIGRATIONS_DIR=(\S+)", unit, re.M)
    if not m or m.group(1) != dockerfile["env"].get("TOKENLEDGER_MIGRATIONS_DIR"):
        fail(UNIT, "TOKENLEDGER_MIGRATIONS_DIR differs from the container image's")
    if "EnvironmentFile=/etc/tokenledger/tokenledgerd.env" not in unit:
        fail(UNIT, "no EnvironmentFile=/etc/tokenledger/tokenledgerd.env")
    documented = set()
    for n, line in enumerate(read(UNIT_ENV).splitlines(), 1):
        bare = line.strip()
        if bare.startswith("#TOKENLEDGER_"):
            bare = bare[1:]
        elif not bare or bare.startswith("#"):
            documented.update(ENV_RE.findall(bare))
            continue
        m = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", bare)
        if not m:
            fail(UNIT_ENV, f"line {n} is not NAME=value: {line}")
            continue
        documented.add(m.group(1))
    # Every variable the daemon reads is documented (the CLI's are not the daemon's).
    server_envs = {"TOKENLEDGER_" + f.upper() for f in FLAGS if f != "migrate_only"}
    server_envs.add("TOKENLEDGER_OPERATOR_KEY")
    server_envs.discard("TOKENLEDGER_CLOCK_OFFSET_SECONDS")  # testing only
    for var in sorted(server_envs - documented):
        fail(UNIT_ENV, f"does not document {var}")


def check_env_names_everywhere():
    for path in sorted(glob.glob(os.path.join(DEPLOY, "**", "*"), recursive=True) +
                       glob.glob(os.path.join(DEPLOY, "**", ".*"), recursive=True)):
        if os.path.isfile(path):
            for var in sorted(set(ENV_RE.findall(read(path)))):
                if not is_known_env(var):
                    fail(path, f"{var} is no tokenledgerd flag (nor a CLI variable)")


# ---- the built binaries and the installed layout --------------------------------------------


def check_runtime_libraries(binaries):
    listed = set(list_file_packages(RUNTIME_PACKAGES))
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            fail(RUNTIME_PACKAGES, f"cannot check {binary}: not an executable")
            continue
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", binary], check=True,
                                           capture_output=True, text=True).stdout)
        resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", subprocess.run(
            ["ldd", binary], check=True, capture_output=True, text=True).stdout, re.M))
        for lib in needed:
            if lib not in resolved:
                fail(RUNTIME_PACKAGES, f"{os.path.basename(binary)}: ldd does not resolve {lib}")
                continue
            real = os.path.realpath(resolved[lib])
            owner = None
            for candidate in (resolved[lib], real, re.sub(r"^/usr/lib/", "/lib/", real)):
                r = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
                if r.returncode == 0:
                    owner = r.stdout.split(":", 1)[0].strip()
                    break
            if owner is None:
                fail(RUNTIME_PACKAGES, f"{os.path.basename(binary)}: no package owns {real}")
            elif owner not in listed and owner not in BASE_PACKAGES:
                fail(RUNTIME_PACKAGES, f"{os.path.basename(binary)} links {lib} from package "
                     f"{owner}, which is not listed")


def check_install_layout(build_dir, dockerfile, docs):
    with tempfile.TemporaryDirectory() as dest:
        r = subprocess.run(["cmake", "--install", build_dir, "--prefix", INSTALL_PREFIX],
                           env={**os.environ, "DESTDIR": dest}, capture_output=True, text=True)
        if r.returncode != 0:
            fail(os.path.join(REPO, "CMakeLists.txt"), f"cmake --install failed: {r.stderr.strip()}")
            return
        share = f"{INSTALL_PREFIX}/share/tokenledger/migrations"
        wanted = {f"{INSTALL_PREFIX}/bin/tokenledgerd": UNIT, f"{INSTALL_PREFIX}/bin/tokenledger": UNIT,
                  dockerfile["env"].get("TOKENLEDGER_MIGRATIONS_DIR", share): DOCKERFILE}
        if dockerfile["entrypoint"]:
            wanted[dockerfile["entrypoint"][0]] = DOCKERFILE
        for p, o in [(p, o) for p, ds in docs.items() for o in ds
                     if isinstance(o, dict) and o.get("kind") == "ConfigMap"]:
            for text in (o.get("data") or {}).values():
                m = re.search(r'^migrations_dir\s*=\s*"([^"]+)"', text, re.M)
                if m:
                    wanted[m.group(1)] = p
        for installed, where in wanted.items():
            if not os.path.exists(dest + installed):
                fail(where, f"names {installed}, which `cmake --install` does not provide")
        sql = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, "migrations", "*.sql")))
        got = sorted(os.path.basename(p) for p in glob.glob(os.path.join(dest + share, "*.sql")))
        if sql != got:
            fail(os.path.join(REPO, "CMakeLists.txt"), f"installs migrations {got}, the tree has {sql}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--daemon", help="the built tokenledgerd: check its libraries' packages")
    parser.add_argument("--cli", help="the built tokenledger CLI: check its libraries' packages")
    parser.add_argument("--build-dir", help="a build tree: check the installed layout")
    args = parser.parse_args()

    docs = load_yaml_files()
    dockerfile = check_dockerfile()
    compose = docs.get(COMPOSE, [{}])[0] or {}
    image = (compose.get("services", {}).get("tokenledgerd") or {}).get("image", "")
    if not image:
        fail(COMPOSE, "the tokenledgerd service names no image")
    check_compose(docs, image)
    check_kubernetes(docs, image, dockerfile)
    check_systemd(dockerfile)
    check_env_names_everywhere()
    binaries = [b for b in (args.daemon, args.cli) if b]
    if binaries:
        check_runtime_libraries(binaries)
    if args.build_dir:
        check_install_layout(args.build_dir, dockerfile, docs)

    if failures:
        for f in failures:
            print(f"FAIL {f}", file=sys.stderr)
        print(f"check_deploy: {len(failures)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_deploy: PASS ({len(docs)} YAML files, {len(ENVS)} env names and "
          f"{len(FLAGS)} flag names known{', binaries checked' if binaries else ''}"
          f"{', install layout checked' if args.build_dir else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
