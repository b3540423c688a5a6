"""Run the policy pack the way the Pulumi CLI does, without the CLI.

The pack starts exactly as the CLI starts it (``policy_launch``: the interpreter ``PulumiPolicy.yaml``
names, ``python -u -m pulumi.policy <engine> <pack>``, cwd = the pack, with ``PULUMI_PROJECT``,
``PULUMI_STACK``, ``PULUMI_DRY_RUN`` and ``PULUMI_CONFIG`` set), prints its port,
and answers the engine's Analyzer RPCs: ``Handshake`` (unimplemented in Python), ``GetAnalyzerInfo``,
``ConfigureStack``, ``Configure``, one ``Analyze`` per resource and one ``AnalyzeStack``.

``analyze()`` does one whole analysis in a fresh subprocess; ``PolicyPackSession`` keeps one
server for many analyses (tests). Like the engine's ``ReconcilePolicyPackConfig``, the client fills
in each policy's schema defaults, then the pack's initial config, then the config file of the stack's
environment (``policies/config.<environment>.json``: strictness follows the ``environment`` setting,
not the stack's name; a missing file is an error), and validates the result against the schemas.

Differences from a real run, by necessity: properties are the program's inputs as registered
under mocks (no provider ``Check``, so no provider defaults or autonames), and ``AnalyzeStack``
gets the same inputs where the engine would send outputs.
"""

from __future__ import annotations

import collections
import importlib.metadata
import json
import queue
import re
import subprocess
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as apb
from pulumi.runtime.proto import analyzer_pb2_grpc

from .engine import PROJECT, PROJECT_DIR, Registration, encode_config, stack_config
from .policy_launch import PolicyPackLaunchError, launch

POLICY_PACK_DIR = PROJECT_DIR / "policies"
STARTUP_TIMEOUT_SECONDS = 30.0
_MAX_MESSAGE_BYTES = 400 * 1024 * 1024  # what the pack's server accepts
_GRPC_OPTIONS = [("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES), ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES)]
_STACK_TYPE = "pulumi:pulumi:Stack"
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_SECONDS_PER_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class EnforcementLevel(StrEnum):
    ADVISORY = "advisory"
    MANDATORY = "mandatory"
    DISABLED = "disabled"
    REMEDIATE = "remediate"


_LEVEL_FROM_WIRE = {
    apb.ADVISORY: EnforcementLevel.ADVISORY,
    apb.MANDATORY: EnforcementLevel.MANDATORY,
    apb.DISABLED: EnforcementLevel.DISABLED,
    apb.REMEDIATE: EnforcementLevel.REMEDIATE,
}
_LEVEL_TO_WIRE = {level: wire for wire, level in _LEVEL_FROM_WIRE.items()}


class PolicyPackError(RuntimeError):
    """The pack could not start, rejected its configuration, or failed while analyzing."""


@dataclass(frozen=True)
class PolicySummary:
    """One policy as configured for the analysis."""

    name: str
    description: str
    enforcement_level: EnforcementLevel
    kind: str  # "resource" or "stack"
    config: Mapping[str, Any]


@dataclass(frozen=True)
class Violation:
    policy_name: str
    enforcement_level: EnforcementLevel
    urn: str  # empty when a stack policy blames the stack as a whole
    message: str  # the policy's own sentence, without the description the SDK prefixes


@dataclass(frozen=True)
class PolicyReport:
    stack: str
    policies: tuple[PolicySummary, ...]
    violations: tuple[Violation, ...]

    @property
    def mandatory_violations(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.enforcement_level == EnforcementLevel.MANDATORY)

    @property
    def advisory_violations(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.enforcement_level == EnforcementLevel.ADVISORY)

    def of_policy(self, name: str) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.policy_name == name)

    def policy(self, name: str) -> PolicySummary:
        found = [p for p in self.policies if p.name == name]
        if not found:
            raise KeyError(f"the pack has no policy {name!r}")
        return found[0]

    def describe(self, violations: Sequence[Violation] | None = None) -> str:
        """One block per violation, for assertion messages and logs."""
        shown = self.violations if violations is None else violations
        return "\n".join(f"[{v.enforcement_level}] {v.policy_name} {v.urn or '(stack)'}\n    {v.message}" for v in shown)


@dataclass
class _PolicyConfig:
    enforcement_level: EnforcementLevel
    properties: dict[str, Any] = field(default_factory=dict)


ENVIRONMENT_KEY = f"{PROJECT}:environment"


def stack_environment(program_config: Mapping[str, Any]) -> str | None:
    """The stack's ``environment`` setting (None when unset)."""
    value = program_config.get(ENVIRONMENT_KEY)
    return value if isinstance(value, str) else None


def policy_config_path(program_config: Mapping[str, Any], pack_dir: Path = POLICY_PACK_DIR) -> Path:
    """``config.<environment>.json``: strictness follows the stack's environment, not its name."""
    environment = stack_environment(program_config)
    if environment is None:
        raise PolicyPackError(f"{ENVIRONMENT_KEY} is not set, so no policy configuration (config.<environment>.json) applies")
    return pack_dir / f"config.{environment}.json"


def load_policy_config(program_config: Mapping[str, Any], pack_dir: Path = POLICY_PACK_DIR) -> dict[str, Any]:
    """The policy configuration of the stack's environment; a missing file is an error, never a weaker run."""
    path = policy_config_path(program_config, pack_dir)
    if not path.is_file():
        raise PolicyPackError(
            f"no policy configuration {path.name} for {ENVIRONMENT_KEY} {stack_environment(program_config)!r}; "
            "a stack is analysed only with the configuration of its environment"
        )
    return json.loads(path.read_text())


def _stack_file_config(stack: str) -> dict[str, Any]:
    """The config of ``Pulumi.<stack>.yaml``, empty when the stack has no file."""
    path = PROJECT_DIR / f"Pulumi.{stack}.yaml"
    return stack_config(stack) if path.exists() else {}


def _parse_level(value: Any, policy: str) -> EnforcementLevel:
    try:
        return EnforcementLevel(value)
    except ValueError:
        raise PolicyPackError(f"policy config for {policy!r}: {value!r} is not an enforcement level") from None


def _apply(result: dict[str, _PolicyConfig], given: Mapping[str, Any]) -> None:
    """One layer of configuration, as the engine applies it: ``all`` first, then each policy."""
    unknown = sorted(set(given) - set(result) - {"all"})
    if unknown:
        raise PolicyPackError(f"policy config names policies the pack does not have: {', '.join(unknown)}")
    entries = {name: {"enforcementLevel": value} if isinstance(value, str) else dict(value) for name, value in given.items()}
    all_level = entries.pop("all", {}).get("enforcementLevel")
    if all_level is not None:
        for config in result.values():
            config.enforcement_level = _parse_level(all_level, "all")
    for name, entry in entries.items():
        level = entry.pop("enforcementLevel", None)
        if level is not None:
            result[name].enforcement_level = _parse_level(level, name)
        result[name].properties.update(entry)


def _reconcile(info: apb.AnalyzerInfo, given: Mapping[str, Any]) -> dict[str, _PolicyConfig]:
    """Schema defaults, then the pack's initial config, then ``given``; validated against the schemas."""
    schemas = {policy.name: json_format.MessageToDict(policy.configSchema) for policy in info.policies}
    result = {
        policy.name: _PolicyConfig(
            _LEVEL_FROM_WIRE[policy.enforcementLevel],
            {key: schema["default"] for key, schema in schemas[policy.name].get("properties", {}).items() if "default" in schema},
        )
        for policy in info.policies
    }
    initial = {
        name: {"enforcementLevel": _LEVEL_FROM_WIRE[config.enforcementLevel], **json_format.MessageToDict(config.properties)}
        for name, config in info.initialConfig.items()
    }
    _apply(result, initial)
    _apply(result, given)
    problems = [
        f"{name}: {error.message}"
        for name, config in result.items()
        for error in jsonschema.Draft7Validator({"type": "object", **schemas[name]}).iter_errors(config.properties)
    ]
    if problems:
        raise PolicyPackError("invalid policy pack configuration:\n  " + "\n  ".join(problems))
    return result


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(values)
    return result


def _seconds(duration: str) -> float:
    """Seconds in a Go duration such as ``30m`` or ``1h30m`` (the form custom timeouts are sent in)."""
    return sum(float(amount) * _SECONDS_PER_UNIT[unit] for amount, unit in _GO_DURATION_PART.findall(duration))


def _options(registration: Registration) -> apb.AnalyzerResourceOptions:
    create, update, delete = (_seconds(value) for value in registration.custom_timeouts)
    return apb.AnalyzerResourceOptions(
        protect=registration.protect,
        ignoreChanges=registration.ignore_changes,
        deleteBeforeReplace=registration.delete_before_replace,
        deleteBeforeReplaceDefined=registration.delete_before_replace,
        additionalSecretOutputs=registration.additional_secret_outputs,
        customTimeouts=apb.AnalyzerResourceOptions.CustomTimeouts(create=create, update=update, delete=delete),
        parent=registration.parent,
    )


class _Providers:
    """The provider of each resource: the registered explicit one, or the default one the engine would use."""

    def __init__(self, registrations: Sequence[Registration], stack: str, program_config: Mapping[str, str]):
        self._by_urn = {r.urn: r for r in registrations}
        self._stack = stack
        self._program_config = program_config

    def of(self, registration: Registration) -> apb.AnalyzerProviderResource | None:
        if registration.provider:
            explicit = self._by_urn.get(registration.provider.rsplit("::", 1)[0])
            if explicit is not None:
                return apb.AnalyzerProviderResource(
                    type=explicit.type, properties=explicit.raw_inputs, urn=explicit.urn, name=explicit.name
                )
        if not registration.custom or registration.type.startswith("pulumi:providers:"):
            return None
        return self._default(registration.type.split(":", 1)[0])

    def _default(self, package: str) -> apb.AnalyzerProviderResource:
        try:
            name = "default_" + importlib.metadata.version(f"pulumi-{package}").replace(".", "_")
        except importlib.metadata.PackageNotFoundError:
            name = "default"
        settings = {key.split(":", 1)[1]: value for key, value in self._program_config.items() if key.startswith(f"{package}:")}
        return apb.AnalyzerProviderResource(
            type=f"pulumi:providers:{package}",
            properties=_struct(settings),
            urn=f"urn:pulumi:{self._stack}::{PROJECT}::pulumi:providers:{package}::{name}",
            name=name,
        )


def _root_stack(registrations: Sequence[Registration]) -> apb.AnalyzerResource | None:
    """The root Stack resource the engine also hands to stack policies (not registered under mocks)."""
    roots = {r.parent for r in registrations if r.parent.split("::")[2:3] == [_STACK_TYPE]}
    return next((apb.AnalyzerResource(type=_STACK_TYPE, urn=urn, name=urn.rsplit("::", 1)[-1]) for urn in roots), None)


def _resource_fields(registration: Registration, providers: _Providers) -> dict[str, Any]:
    """The fields that ``Analyze`` and ``AnalyzeStack`` both send for a resource."""
    return {
        "type": registration.type,
        "properties": registration.raw_inputs,
        "urn": registration.urn,
        "name": registration.name,
        "options": _options(registration),
        "provider": providers.of(registration),
    }


def _without_description(message: str, description: str) -> str:
    prefix = description + "\n"
    return message[len(prefix) :] if message.startswith(prefix) else message


def _violations(response: apb.AnalyzeResponse, urn: str) -> list[Violation]:
    return [
        Violation(
            policy_name=diagnostic.policyName,
            enforcement_level=_LEVEL_FROM_WIRE[diagnostic.enforcementLevel],
            urn=diagnostic.urn or urn,
            message=_without_description(diagnostic.message, diagnostic.description),
        )
        for diagnostic in response.diagnostics
    ]


def _drain(stream: IO[bytes], sink: collections.deque[str], first_line: queue.Queue[str] | None = None) -> None:
    for index, raw in enumerate(iter(stream.readline, b"")):
        line = raw.decode(errors="replace")
        if index == 0 and first_line is not None:
            first_line.put(line)
        else:
            sink.append(line)
    if first_line is not None:
        first_line.put("")  # the process ended (or closed stdout) without a port line


class PolicyPackSession:
    """One running policy pack, reused for any number of analyses; use as a context manager."""

    def __init__(
        self,
        pack_dir: Path = POLICY_PACK_DIR,
        *,
        stack: str = "dev",
        stack_config: Mapping[str, Any] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    ):
        """``stack_config``: the stack's settings (default: ``Pulumi.<stack>.yaml``), handed to the pack as the CLI does."""
        self._pack_dir = pack_dir.resolve()
        self._stack = stack
        self._stack_config = dict(_stack_file_config(stack) if stack_config is None else stack_config)
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._info: apb.AnalyzerInfo | None = None
        self._output: collections.deque[str] = collections.deque(maxlen=200)
        self._readers: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        try:
            port = self._spawn()
            self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_GRPC_OPTIONS)
            grpc.channel_ready_future(self._channel).result(timeout=self._startup_timeout)
            self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
            self._handshake()
            self._info = self._stub.GetAnalyzerInfo(empty_pb2.Empty())
        except BaseException:
            self.close()
            raise

    def _spawn(self) -> int:
        try:
            start = launch(self._pack_dir, engine_address="127.0.0.1:0")  # the pack never dials the engine
        except PolicyPackLaunchError as error:
            raise PolicyPackError(str(error)) from None
        environment = {
            **start.env,
            "PULUMI_PROJECT": PROJECT,
            "PULUMI_STACK": self._stack,
            "PULUMI_DRY_RUN": "true",
            "PULUMI_CONFIG": json.dumps(encode_config(self._stack_config)),
        }
        self._process = subprocess.Popen(
            start.argv,
            cwd=start.cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        first_line: queue.Queue[str] = queue.Queue()
        # Keep reading both pipes so a chatty pack can never block on a full pipe.
        self._readers = [
            threading.Thread(target=_drain, args=(stream, self._output, port_line), daemon=True)
            for stream, port_line in ((self._process.stdout, first_line), (self._process.stderr, None))
        ]
        for reader in self._readers:
            reader.start()
        try:
            line = first_line.get(timeout=self._startup_timeout)
        except queue.Empty:
            raise self._startup_failure(f"printed no port within {self._startup_timeout:g} s") from None
        if not line.strip().isdigit():
            raise self._startup_failure(f"did not start (first line {line.strip()!r})")
        return int(line)

    def _startup_failure(self, what: str) -> PolicyPackError:
        """The error to raise, with everything the stopped pack printed (its traceback, usually)."""
        self.close()
        return PolicyPackError(f"the policy pack {what}:\n" + "".join(self._output))

    def _handshake(self) -> None:
        assert self._stub is not None
        try:
            directory = str(self._pack_dir)
            self._stub.Handshake(
                apb.AnalyzerHandshakeRequest(engine_address="", root_directory=directory, program_directory=directory)
            )
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:  # Python packs do not implement it; the engine goes on
                raise

    def analyze(
        self,
        registrations: Sequence[Registration],
        stack: str,
        config: Mapping[str, Any] | None = None,
        stack_config: Mapping[str, Any] | None = None,
        resource_urns: Collection[str] | None = None,
    ) -> PolicyReport:
        """Analyze one stack's registrations with the policy config of its environment (``config.<environment>.json``,
        ``PolicyPackError`` when there is none); ``config`` replaces it. ``stack_config``: the stack's settings
        (default: ``Pulumi.<stack>.yaml``). ``resource_urns``: run the resource policies on these resources only
        (the stack policies always see every resource), e.g. on the one a test changed."""
        if self._stub is None or self._info is None:
            raise PolicyPackError("the policy pack session is not running (use it as a context manager)")
        values = _stack_file_config(stack) if stack_config is None else stack_config
        settings = _reconcile(self._info, load_policy_config(values, self._pack_dir) if config is None else config)
        program_config = encode_config(values)
        try:
            self._configure(stack, program_config, settings)
            violations = self._run(registrations, stack, program_config, resource_urns)
        except grpc.RpcError as error:
            raise PolicyPackError(f"the policy pack failed: {error.details()}") from None
        policies = tuple(
            PolicySummary(
                name=policy.name,
                description=policy.description,
                enforcement_level=settings[policy.name].enforcement_level,
                kind="stack" if policy.policy_type == apb.POLICY_TYPE_STACK else "resource",
                config=settings[policy.name].properties,
            )
            for policy in self._info.policies
        )
        return PolicyReport(stack=stack, policies=policies, violations=tuple(violations))

    def _configure(self, stack: str, program_config: Mapping[str, str], settings: Mapping[str, _PolicyConfig]) -> None:
        assert self._stub is not None
        self._stub.ConfigureStack(
            apb.AnalyzerStackConfigureRequest(
                stack=stack,
                project=PROJECT,
                organization="organization",
                dry_run=True,
                config=program_config,
                tags={"pulumi:project": PROJECT, "pulumi:runtime": "python"},
            )
        )
        policy_config = {
            name: apb.PolicyConfig(
                enforcementLevel=_LEVEL_TO_WIRE[config.enforcement_level], properties=_struct(config.properties)
            )
            for name, config in settings.items()
        }
        self._stub.Configure(apb.ConfigureAnalyzerRequest(policyConfig=policy_config))

    def _run(
        self,
        registrations: Sequence[Registration],
        stack: str,
        program_config: Mapping[str, str],
        resource_urns: Collection[str] | None,
    ) -> list[Violation]:
        assert self._stub is not None
        providers = _Providers(registrations, stack, program_config)
        resource_fields = [(r, _resource_fields(r, providers)) for r in registrations]
        analyzed = [(r, fields) for r, fields in resource_fields if resource_urns is None or r.urn in resource_urns]
        # Pipelined: every Analyze is in flight at once; the server answers on its worker threads.
        pending = [(r.urn, self._stub.Analyze.future(apb.AnalyzeRequest(**fields))) for r, fields in analyzed]
        violations = [violation for urn, call in pending for violation in _violations(call.result(), urn)]
        resources = [
            apb.AnalyzerResource(
                **fields,
                parent=r.parent,
                dependencies=r.dependencies,
                propertyDependencies={
                    key: apb.AnalyzerPropertyDependencies(urns=urns) for key, urns in r.property_dependencies.items()
                },
            )
            for r, fields in resource_fields
        ]
        root = _root_stack(registrations)
        stack_response = self._stub.AnalyzeStack(apb.AnalyzeStackRequest(resources=[*([root] if root else []), *resources]))
        return violations + _violations(stack_response, "")

    def close(self) -> None:
        """Stop the server process (always; the pack never exits by itself)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        self._stub = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            # The readers see end-of-file once the process is gone; let them finish before closing.
            for reader in self._readers:
                reader.join(timeout=5)
            for stream in (self._process.stdout, self._process.stderr):
                if stream is not None:
                    stream.close()
            self._process = None


def analyze(
    registrations: Sequence[Registration],
    stack: str,
    config: Mapping[str, Any] | None = None,
    stack_config: Mapping[str, Any] | None = None,
) -> PolicyReport:
    """Analyze ``registrations`` as ``pulumi preview --policy-pack policies`` would, in a fresh pack process.

    ``config`` replaces the policy config of the stack's environment (``policies/config.<environment>.json``).
    """
    with PolicyPackSession(stack=stack, stack_config=stack_config) as session:
        return session.analyze(registrations, stack, config, stack_config)
