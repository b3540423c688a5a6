"""A recording mock engine: runs the Pulumi program with no cloud, no CLI and no plugins.

The tests and the offline render both use it. ``run_stack()`` loads ``Pulumi.<stack>.yaml``,
runs ``__main__.py`` under ``pulumi.runtime.set_mocks(preview=False)`` with a monitor that
records every ``RegisterResource`` request (type, URN, parent, dependencies, provider, inputs
by wire name, options), and returns the registrations and the resolved stack outputs.

The mocks answer with the computed outputs the program reads, under their wire names
(``oidcIssuerProfile.issuerURL``, ``clientId``, ``principalId`` ...), so no input goes missing
and no dependency edge silently disappears.
"""

from __future__ import annotations

import base64
import functools
import gc
import hashlib
import json
import logging
import runpy
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc

from offline.stack_file import holds_secret, read_stack_config
from settings.disaster_recovery import CONFIG_KEY as DR_CONFIG_KEY
from settings.disaster_recovery import PEER_STACK_OUTPUT as DR_PEER_STACK_OUTPUT
from settings.disaster_recovery import PRIMARY_OUTPUT as DR_PRIMARY_OUTPUT

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "aks-postgres-ha"
SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001"
TENANT_ID = "00000000-0000-4000-8000-000000000002"
CLIENT_OBJECT_ID = "00000000-0000-4000-8000-000000000003"


def _stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)))


def _stable_text(seed: str, length: int, alphabet: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest() * 4
    return "".join(alphabet[byte % len(alphabet)] for byte in digest[:length])


def _strings(value: Any) -> set[str]:
    """Every string inside a value (mapping keys excluded)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return set().union(*(_strings(item) for item in value))
    return set()


# ARM name argument of each azure-native type the program uses (wire names).
_ARM_NAME_KEYS = (
    "resourceGroupName",
    "accountName",
    "resourceName",
    "containerName",
    "publicIpAddressName",
    "workspaceName",
    "azureMonitorWorkspaceName",
    "dataCollectionEndpointName",
    "dataCollectionRuleName",
    "associationName",
    "roleAssignmentName",
    "federatedIdentityCredentialResourceName",
    "agentPoolName",
    "managementPolicyName",
    "blobServicesName",
    "ruleGroupName",
    "configName",
)


def _arm_name(resource_type: str, inputs: Mapping[str, Any], logical_name: str) -> str:
    keys = _ARM_NAME_KEYS[1:] if resource_type != "azure-native:resources:ResourceGroup" else _ARM_NAME_KEYS[:1]
    # A child resource names its parent first (e.g. a container's accountName): take the last match.
    found = [inputs[key] for key in keys if isinstance(inputs.get(key), str)]
    return found[-1] if found else logical_name


@dataclass(frozen=True)
class StackOutputs:
    """Another stack's outputs as a StackReference reads them; ``secret``: the names marked secret."""

    outputs: Mapping[str, Any]
    secret: frozenset[str] = frozenset()


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers every registration with the computed outputs a real deployment would have.

    ``invented`` keeps every ID, identity, address and random text it made up, so a render can
    tell values a real deployment would differ in from values the program derives from settings.
    ``deployed_outputs``: what a StackReference reads (an earlier deployment's outputs; none by default).
    ``referenced``: what a StackReference to another stack reads, by its fully qualified name.
    """

    def __init__(
        self, deployed_outputs: Mapping[str, Any] | None = None, referenced: Mapping[str, StackOutputs] | None = None
    ) -> None:
        super().__init__()
        self.invented: set[str] = set()
        self.deployed_outputs = dict(deployed_outputs or {})
        self.referenced = dict(referenced or {})

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        resource_id, outputs = self._answer(args)
        self._remember_invented([resource_id, outputs], known=[args.name, args.inputs])
        return resource_id, outputs

    def _remember_invented(self, answer: Any, known: Any) -> None:
        self.invented.update(_strings(answer) - _strings(known))

    def _answer(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        outputs = dict(inputs)
        kind = args.typ
        if kind == "pulumi:pulumi:StackReference":
            other = self.referenced.get(inputs["name"])
            if other is not None:
                return inputs["name"], {**inputs, "outputs": dict(other.outputs), "secretOutputNames": sorted(other.secret)}
            return inputs["name"], {**inputs, "outputs": dict(self.deployed_outputs), "secretOutputNames": []}
        if kind.startswith("azure-native:"):
            name = _arm_name(kind, inputs, args.name)
            outputs["name"] = name
            module, type_name = kind.split(":")[1:]
            group = inputs.get("resourceGroupName", "rg-mock")
            if kind == "azure-native:resources:ResourceGroup":
                resource_id = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{name}"
            elif kind == "azure-native:authorization:RoleAssignment":
                resource_id = f"{inputs.get('scope', '')}/providers/Microsoft.Authorization/roleAssignments/{name}"
            else:
                resource_id = (
                    f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{group}/providers/Microsoft.{module}/{type_name}/{name}"
                )
            outputs["id"] = resource_id
            outputs.update(self._azure_outputs(kind, name, inputs))
            return resource_id, outputs
        if kind == "random:index/randomString:RandomString":
            alphabet = "abcdefghijklmnopqrstuvwxyz" + ("0123456789" if inputs.get("numeric", True) else "")
            outputs["result"] = _stable_text(args.name, int(inputs["length"]), alphabet)
        elif kind == "random:index/randomPassword:RandomPassword":
            outputs["result"] = _stable_text(
                "password/" + args.name, int(inputs["length"]), "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
            )
            outputs["bcryptHash"] = "$2a$10$" + _stable_text("bcrypt/" + args.name, 53, "abcdefghijklmnopqrstuvwxyz0123456789./")
        elif kind.startswith("kubernetes:") and isinstance(inputs.get("metadata"), dict):
            outputs.setdefault("status", {})
        return f"{args.name}-id", outputs

    @staticmethod
    def _azure_outputs(kind: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        location = inputs.get("location", "swedencentral")
        if kind == "azure-native:managedidentity:UserAssignedIdentity":
            return {
                "clientId": _stable_uuid("client", name),
                "principalId": _stable_uuid("principal", name),
                "tenantId": TENANT_ID,
            }
        if kind == "azure-native:containerservice:ManagedCluster":
            identity = dict(inputs.get("identity") or {})
            # Inputs list identity IDs; the resource reports them as a map keyed by ID.
            identity["userAssignedIdentities"] = {
                identity_id: {
                    "clientId": _stable_uuid("client", identity_id),
                    "principalId": _stable_uuid("principal", identity_id),
                }
                for identity_id in identity.get("userAssignedIdentities") or []
            }
            return {
                "identity": identity,
                "oidcIssuerProfile": {
                    "enabled": True,
                    "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{TENANT_ID}/{_stable_uuid('oidc', name)}/",
                },
                "fqdn": f"{inputs.get('dnsPrefix', name)}.hcp.{location}.azmk8s.io",
                "nodeResourceGroup": inputs.get("nodeResourceGroup", f"MC_{name}"),
            }
        if kind == "azure-native:storage:StorageAccount":
            return {"primaryEndpoints": {"blob": f"https://{name}.blob.core.windows.net/"}}
        if kind == "azure-native:network:PublicIPAddress":
            label = (inputs.get("dnsSettings") or {}).get("domainNameLabel", name)
            return {
                "ipAddress": "198.51.100.20",
                "dnsSettings": {**(inputs.get("dnsSettings") or {}), "fqdn": f"{label}.{location}.cloudapp.azure.com"},
            }
        if kind == "azure-native:dashboard:Grafana":
            return {
                "identity": {**(inputs.get("identity") or {}), "principalId": _stable_uuid("grafana", name)},
                "properties": {**(inputs.get("properties") or {}), "endpoint": f"https://{name}-mock.swc.grafana.azure.com"},
            }
        if kind == "azure-native:operationalinsights:Workspace":
            return {"customerId": _stable_uuid("law", name)}
        return {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        result = self._call_result(args)
        self._remember_invented(result, known=args.args)
        return result, []

    def _call_result(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "clientId": _stable_uuid("deployer"),
                "objectId": CLIENT_OBJECT_ID,
                "subscriptionId": SUBSCRIPTION_ID,
                "tenantId": TENANT_ID,
            }
        if args.token in (
            "azure-native:containerservice:listManagedClusterAdminCredentials",
            "azure-native:containerservice:listManagedClusterUserCredentials",
        ):
            cluster = args.args.get("resourceName", "aks")
            kubeconfig = (
                f"apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n    server: https://{cluster}.hcp.mock.azmk8s.io:443\n"
                f"    certificate-authority-data: {base64.b64encode(b'mock-ca').decode()}\n"
                f"contexts:\n- name: {cluster}\n  context: {{cluster: {cluster}, user: admin}}\ncurrent-context: {cluster}\n"
                "users:\n- name: admin\n  user: {token: mock-token}\n"
            )
            return {"kubeconfigs": [{"name": "clusterAdmin", "value": base64.b64encode(kubeconfig.encode()).decode()}]}
        return {}


@dataclass
class Registration:
    """One RegisterResource request as the engine saw it (wire names, floats for numbers).

    ``inputs`` has secrets unwrapped for reading; ``raw_inputs`` keeps them marked as the engine sent them.
    """

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    remote: bool
    provider: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    inputs: dict[str, Any]
    raw_inputs: struct_pb2.Struct
    custom_timeouts: tuple[str, str, str]
    replace_on_changes: list[str]
    ignore_changes: list[str]
    protect: bool
    delete_before_replace: bool
    additional_secret_outputs: list[str]
    retain_on_delete: bool = False


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that keeps every registration request, in order.

    ``offline_render`` is the marker ``settings.load_settings`` looks for to let the shipped
    placeholder ranges through with a warning. It lives on this in-process monitor object, so
    a real preview or update (whose monitor is the CLI's gRPC stub) can never carry it, and no
    environment variable left set in a shell can switch it on.
    """

    def __init__(self, mocks: pulumi.runtime.Mocks, *, offline_render: bool = True):
        super().__init__(mocks)
        self.offline_render = offline_render
        self.registrations: list[Registration] = []
        self.invokes: list[str] = []
        self.reads: list[str] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            raw = struct_pb2.Struct()
            raw.CopyFrom(request.object)
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=request.custom,
                    remote=request.remote,
                    provider=request.provider,
                    dependencies=list(request.dependencies),
                    property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                    inputs=rpc.deserialize_properties_unwrap_secrets(request.object, keep_unknowns=True)[0],
                    raw_inputs=raw,
                    custom_timeouts=(
                        request.customTimeouts.create,
                        request.customTimeouts.update,
                        request.customTimeouts.delete,
                    ),
                    replace_on_changes=list(request.replaceOnChanges),
                    ignore_changes=list(request.ignoreChanges),
                    protect=request.protect,
                    delete_before_replace=request.deleteBeforeReplace,
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                    retain_on_delete=request.retainOnDelete,
                )
            )
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().ReadResource(request)
        self.reads.append(response.urn)
        return response

    def Invoke(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        self.invokes.append(request.tok)
        return super().Invoke(request)


@dataclass
class StackRun:
    """What one program run registered and exported."""

    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)
    mock_outputs: set[str] = field(default_factory=set)
    """Outputs holding a value the mock engine invented (IDs, addresses, random suffixes)."""
    warnings: list[str] = field(default_factory=list)
    """What the program logged with ``pulumi.log.warn``."""
    invokes: list[str] = field(default_factory=list)
    """Tokens of the functions the program invoked, in order."""
    reads: list[str] = field(default_factory=list)
    """URNs of the resources the program read rather than registered (e.g. StackReferences)."""

    def of_type(self, resource_type: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == resource_type]

    def one(self, resource_type: str, name: str | None = None) -> Registration:
        found = [r for r in self.of_type(resource_type) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(resource_type)]
            raise AssertionError(f"expected one {resource_type} named {name!r}, found {names}")
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)


def stack_config_file(path: Path) -> dict[str, Any]:
    """The ``config:`` mapping of a stack settings file, as the Pulumi CLI reads it (``StackFileError`` if it would not)."""
    return read_stack_config(path, PROJECT)


def stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The ``config:`` mapping of ``Pulumi.<stack>.yaml``."""
    return stack_config_file(project_dir / f"Pulumi.{stack}.yaml")


def encode_config(values: Mapping[str, Any]) -> dict[str, str]:
    """Pulumi hands config to programs as strings; objects, lists and scalars as JSON."""
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}


def _reset_runtime() -> None:
    pulumi.runtime.settings.reset_options()


@contextmanager
def _cyclic_collection_paused() -> Iterator[None]:
    """A program run without the cyclic garbage collector, then one collection.

    A run allocates some 100,000 asyncio handles, tasks and outputs, and its first run in a process
    imports the SDK modules (some 300,000 long-lived objects): with the collector on, it rescanned them
    over and over, half of the run's CPU time. After the run (and the runtime's reset) one collection
    frees its garbage and what the caller let go of since (the futures of a refused run would otherwise
    report "exception never retrieved" at exit); when the run imported modules, what survives is
    mostly those modules, frozen so that later collections skip them. A process that runs with the
    collector off (a one-shot offline render) keeps it off.
    """
    collecting, modules = gc.isenabled(), len(sys.modules)
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
            gc.collect()
            if len(sys.modules) > modules:
                gc.freeze()


class _Collector(logging.Handler):
    """Keeps the program's warnings and errors (the mock engine hands ``pulumi.log`` to a logger)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _holding_invented(outputs: Mapping[str, Any], invented: set[str]) -> set[str]:
    # Very short strings (empty values, "id") would match almost anything by accident.
    needles = [text for text in invented if len(text) >= 4]
    return {name for name, value in outputs.items() if any(needle in text for text in _strings(value) for needle in needles)}


def _peer_stack_outputs(stack: str, values: Mapping[str, Any]) -> dict[str, StackOutputs]:
    """A disaster-recovery stack's StackReference to its peer, answered by an offline run of the
    peer's stack file (mock IDs and addresses); none when there is no such file.

    The peer's own reference back to this stack would recurse: it runs without its section, and
    its topology outputs are what that section exports.
    """
    section = values.get(f"{PROJECT}:{DR_CONFIG_KEY}")
    peer = section.get("peerStack") if isinstance(section, Mapping) else None
    if not isinstance(peer, str):
        return {}
    peer_stack = peer.rsplit("/", 1)[-1]
    peer_file = PROJECT_DIR / f"Pulumi.{peer_stack}.yaml"
    if peer_stack == stack or not peer_file.is_file():
        return {}
    answer = _peer_run(peer_stack, peer_file.read_text())
    return {peer: StackOutputs(dict(answer.outputs), answer.secret)}


@functools.cache
def _peer_run(peer_stack: str, stack_file: str) -> StackOutputs:
    """The peer's outputs from an offline run of its stack file (``stack_file``: its text, so a changed
    file runs again); one run per file and process, as it depends on nothing else."""
    run = run_stack(peer_stack, {f"{PROJECT}:{DR_CONFIG_KEY}": None}, referenced={})
    outputs = dict(run.outputs)
    peer_section = stack_config(peer_stack).get(f"{PROJECT}:{DR_CONFIG_KEY}")
    if isinstance(peer_section, Mapping):
        outputs[DR_PRIMARY_OUTPUT] = peer_section.get("primary")
        outputs[DR_PEER_STACK_OUTPUT] = peer_section.get("peerStack")
    return StackOutputs(outputs, frozenset(run.secret_outputs))


def run_stack(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    program: Path = PROJECT_DIR / "__main__.py",
    offline_render: bool = True,
    deployed_outputs: Mapping[str, Any] | None = None,
    referenced: Mapping[str, StackOutputs] | None = None,
) -> StackRun:
    """Run the program for ``stack`` under the recording engine.

    ``config`` replaces the stack file's settings; ``overrides`` (``{"aks-postgres-ha:key": value}``,
    ``None`` deletes a key) are applied on top. Exceptions from the program (``pulumi.RunError`` for
    invalid settings) propagate after the monitor has recorded what was registered, available
    as ``exc.registrations`` on the raised exception. ``offline_render=False`` runs the program as
    a real engine would (no offline-render marker), e.g. to test what a deployment refuses.
    ``deployed_outputs`` simulates a live stack: the outputs its last deployment left, as the
    program's StackReference to its own stack reads them. ``referenced`` answers StackReferences
    to other stacks by fully qualified name; by default a disaster-recovery stack's peer is
    answered by an offline run of ``Pulumi.<peer>.yaml`` (a warning says so).
    """
    values = dict(stack_config(stack) if config is None else config)
    for key, value in (overrides or {}).items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value

    if referenced is None:
        referenced = _peer_stack_outputs(stack, values)
    _reset_runtime()
    mocks = RecordingMocks(deployed_outputs, referenced)
    monitor = RecordingMonitor(mocks, offline_render=offline_render)
    collector = _Collector()
    collector.messages += [
        f"mock: StackReference {name} reads mock outputs (an offline run, not a deployment)" for name in referenced
    ]
    # The CLI decrypts secure values and lists their keys as secret; offline they hold a placeholder.
    secret_keys = sorted(key for key, value in values.items() if holds_secret(value))
    collector.messages += [
        f"mock: {key} holds a secure value the offline render cannot decrypt (a placeholder)" for key in secret_keys
    ]
    logger = logging.getLogger(f"{__name__}.program")
    logger.propagate = False
    logger.addHandler(collector)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor, logger=logger)
    pulumi.runtime.set_all_config(encode_config(values), secret_keys)

    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        runpy.run_path(str(program), run_name="__main__")
        root = pulumi.runtime.settings.get_root_resource()
        exported: dict[str, Any] = dict(getattr(root, "outputs", {}) or {})
        names = list(exported)

        async def resolve() -> None:
            for name in names:
                output = pulumi.Output.from_input(exported[name])
                outputs[name] = await output.future()
                if await output.is_secret():
                    secret_outputs.add(name)

        return pulumi.Output.from_input(resolve())

    # The collection comes after the reset, which lets go of the run's outputs and futures.
    with _cyclic_collection_paused():
        try:
            run()
        except Exception as error:
            error.registrations = list(monitor.registrations)  # type: ignore[attr-defined]
            raise
        finally:
            logger.removeHandler(collector)
            _reset_runtime()
    return StackRun(
        stack=stack,
        registrations=list(monitor.registrations),
        outputs=outputs,
        secret_outputs=secret_outputs,
        mock_outputs=_holding_invented(outputs, mocks.invented),
        warnings=collector.messages,
        invokes=list(monitor.invokes),
        reads=list(monitor.reads),
    )
