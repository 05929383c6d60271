"""AML v1 compute targets: accepted and recorded; steps run on the Functions workers.

The samples' first cells find or create a cluster (``ComputeTarget(ws, name)`` inside a
``try``/``except ComputeTargetException``, then ``ComputeTarget.create`` and
``wait_for_completion``) or attach one. All of that works here and records what was asked,
with one warning that says compute is not provisioned; nothing of it is ever an error.
"""

from __future__ import annotations

from typing import Any

from pipeline_core._warnings import warn_ignored


class ComputeStatus:
    """What ``get_status()`` answers (AML: ``AmlComputeStatus``): always ready, no nodes to wait for."""

    def __init__(self, provisioning_state: str = "Succeeded"):
        self.provisioning_state = provisioning_state
        self.current_node_count = 0
        self.target_node_count = 0
        self.node_state_counts: dict[str, int] = {"idleNodeCount": 0, "runningNodeCount": 0,
                                                  "preparingNodeCount": 0, "unusableNodeCount": 0}
        self.errors: list[Any] = []

    def serialize(self) -> dict[str, Any]:
        return {"provisioningState": self.provisioning_state, "currentNodeCount": self.current_node_count,
                "targetNodeCount": self.target_node_count, "nodeStateCounts": dict(self.node_state_counts),
                "errors": list(self.errors)}

    def __str__(self) -> str:
        return self.provisioning_state

    def __eq__(self, other: object) -> bool:  # code written for amlite's earlier str answer still compares
        if isinstance(other, str):
            return other == self.provisioning_state
        return isinstance(other, ComputeStatus) and other.serialize() == self.serialize()

    __hash__ = None  # type: ignore[assignment]


class _Configuration:
    """A provisioning or attach configuration: kept as given, recorded on the target."""

    def __init__(self, kind: type[ComputeTarget], **kwargs: Any):
        self._kind = kind
        self.__dict__.update(kwargs)

    def recorded(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def _recorded(configuration: Any) -> dict[str, Any]:
    if isinstance(configuration, _Configuration):
        return configuration.recorded()
    return {k: v for k, v in getattr(configuration, "__dict__", {}).items() if not k.startswith("_")}


class ComputeTarget:
    """A named registration. ``ComputeTarget(workspace, name)`` finds or makes one, so AML code runs unchanged."""

    type = "Local"

    def __init__(self, workspace: Any = None, name: str | None = None, **kwargs: Any):
        self.workspace = workspace
        self.name = name or "local"
        self.provisioning_state = "Succeeded"
        self.provisioning_errors: list[Any] = []
        self.recorded = dict(kwargs)
        warn_ignored("compute targets (ComputeTarget, AmlCompute, compute_target=)")
        if workspace is not None and hasattr(workspace, "_register_compute"):
            existing = workspace.compute_targets.get(self.name)
            if existing is not None and type(self) is ComputeTarget:  # AML gives back the registered kind
                self.__class__ = type(existing)
                self.recorded = {**existing.recorded, **self.recorded}
            workspace._register_compute(self)

    @staticmethod
    def create(workspace: Any, name: str, provisioning_configuration: Any) -> ComputeTarget:
        kind = getattr(provisioning_configuration, "_kind", None) or AmlCompute
        target = kind(workspace, name)
        target.recorded["provisioning_configuration"] = _recorded(provisioning_configuration)
        return target

    @staticmethod
    def attach(workspace: Any, name: str, attach_configuration: Any) -> ComputeTarget:
        kind = getattr(attach_configuration, "_kind", None) or ComputeTarget
        target = kind(workspace, name)
        target.recorded["attach_configuration"] = _recorded(attach_configuration)
        target._attached(attach_configuration)
        return target

    def _attached(self, attach_configuration: Any) -> None:
        """What a kind keeps of its attach configuration beyond the record (DatabricksCompute: its credential)."""

    @property
    def cluster_resource_id(self) -> str:
        """The Azure resource the target stands for, as AML reports it (samples print it).

        An attached target's ``resource_id`` as given; else the resource its configuration names (``_provider``:
        e.g. a Data Lake Analytics account) in the workspace's subscription and resource group; else the
        workspace's own compute of that name. amlite provisions nothing: it is the name AML would give.
        """
        config = self.recorded.get("attach_configuration") or self.recorded.get("provisioning_configuration") or {}
        if config.get("resource_id"):
            return str(config["resource_id"])
        subscription = getattr(self.workspace, "subscription_id", None) or "local"
        group = config.get("resource_group") or getattr(self.workspace, "resource_group", None) or "local"
        scope = f"/subscriptions/{subscription}/resourceGroups/{group}/providers/"
        own = self._provider(config)
        if own is not None:
            return scope + own
        workspace = getattr(self.workspace, "name", None) or "local"
        return f"{scope}Microsoft.MachineLearningServices/workspaces/{workspace}/computes/{self.name}"

    def _provider(self, config: dict[str, Any]) -> str | None:
        """``<provider>/<type>/<name>`` of the resource an attached kind stands for (None: a workspace compute)."""
        return None

    @staticmethod
    def list(workspace: Any) -> list[ComputeTarget]:
        return list(workspace.compute_targets.values())

    def wait_for_completion(self, show_output: bool = False, min_node_count: int | None = None,
                            timeout_in_minutes: int = 20, is_delete_operation: bool = False) -> None:
        if show_output:
            print(f"{self.name}: {self.provisioning_state} (amlite runs steps on the Functions workers)")

    def get_status(self) -> ComputeStatus:
        return ComputeStatus(self.provisioning_state)

    def refresh_state(self) -> None:
        return None

    def serialize(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "provisioningState": self.provisioning_state,
                "recorded": self.recorded}

    def delete(self) -> None:
        if self.workspace is not None and hasattr(self.workspace, "_forget_compute"):
            self.workspace._forget_compute(self.name)

    def detach(self) -> None:
        self.delete()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class AmlCompute(ComputeTarget):
    type = "AmlCompute"

    @staticmethod
    def provisioning_configuration(vm_size: str = "", vm_priority: str = "dedicated", min_nodes: int = 0,
                                   max_nodes: int | None = None, idle_seconds_before_scaledown: int | None = None,
                                   **kwargs: Any) -> _Configuration:
        return _Configuration(AmlCompute, vm_size=vm_size, vm_priority=vm_priority, min_nodes=min_nodes,
                              max_nodes=max_nodes, idle_seconds_before_scaledown=idle_seconds_before_scaledown,
                              **kwargs)

    @staticmethod
    def supported_vmsizes(workspace: Any, location: str | None = None) -> list[dict[str, Any]]:
        return []


class ComputeInstance(ComputeTarget):
    type = "ComputeInstance"

    @staticmethod
    def provisioning_configuration(vm_size: str = "", **kwargs: Any) -> _Configuration:
        return _Configuration(ComputeInstance, vm_size=vm_size, **kwargs)


class DatabricksCompute(ComputeTarget):
    """An Azure Databricks workspace that ``DatabricksStep``s submit their runs to (Jobs API ``runs/submit``).

    AML finds the workspace from ``resource_group`` + ``workspace_name``; amlite needs its URL:
    ``workspace_url="https://adb-<id>.<n>.azuredatabricks.net"`` (an amlite argument), or the app
    setting ``AMLITE_DATABRICKS_HOST`` where the step runs. The ``access_token`` (a personal access
    token) stays in this process, for local runs; it is never written to the spec or the run.
    Without one, a local run signs in with Entra ID (``DefaultAzureCredential``). A published
    pipeline on the Functions app connects with the app's settings (``docs/steps.md``).
    """

    type = "Databricks"

    @staticmethod
    def attach_configuration(resource_group: str | None = None, workspace_name: str | None = None,
                             access_token: str = "", resource_id: str | None = None, workspace_url: str | None = None,
                             **kwargs: Any) -> _Configuration:
        # The token is a secret: recorded only as present or not (kept apart, for this process's runs).
        if workspace_url is not None and not str(workspace_url).startswith(("https://", "http://")):
            raise ValueError(f"DatabricksCompute workspace_url {workspace_url!r} is not a URL: use "
                             "https://adb-<workspace id>.<n>.azuredatabricks.net")
        config = _Configuration(DatabricksCompute, resource_group=resource_group, workspace_name=workspace_name,
                                resource_id=resource_id, workspace_url=workspace_url,
                                has_access_token=bool(access_token), **kwargs)
        config.__dict__["_access_token"] = access_token or None  # not in recorded(): it starts with _
        return config

    def _provider(self, config: dict[str, Any]) -> str | None:
        return f"Microsoft.Databricks/workspaces/{config.get('workspace_name') or self.name}"

    @property
    def workspace_url(self) -> str | None:
        return (self.recorded.get("attach_configuration") or {}).get("workspace_url")

    def _attached(self, attach_configuration: Any) -> None:
        from pipeline_core.databricks.settings import remember_attached

        remember_attached(self.name, self.workspace_url, getattr(attach_configuration, "_access_token", None))


class DataFactoryCompute(ComputeTarget):
    type = "DataFactory"

    @staticmethod
    def provisioning_configuration(**kwargs: Any) -> _Configuration:
        return _Configuration(DataFactoryCompute, **kwargs)

    @staticmethod
    def attach_configuration(resource_group: str | None = None, factory_name: str | None = None,
                             resource_id: str | None = None, **kwargs: Any) -> _Configuration:
        return _Configuration(DataFactoryCompute, resource_group=resource_group, factory_name=factory_name,
                              resource_id=resource_id, **kwargs)

    def _provider(self, config: dict[str, Any]) -> str | None:
        return f"Microsoft.DataFactory/factories/{config.get('factory_name') or self.name}"


class AdlaCompute(ComputeTarget):
    """Azure Data Lake Analytics was retired in February 2024; kept so the name imports and attaches.

    Attaching one warns (once) that no AdlaStep can run; the step itself is refused at validate,
    publish and submit (``pipeline_core.pipeline.steps.adla_step``).
    """

    type = "ADLAnalytics"

    @staticmethod
    def attach_configuration(resource_group: str | None = None, account_name: str | None = None,
                             resource_id: str | None = None, **kwargs: Any) -> _Configuration:
        warn_ignored("AdlaCompute", "Azure Data Lake Analytics was retired on 29 February 2024, so an AdlaStep "
                                    "cannot run; port the U-SQL job to DatabricksStep or Azure Synapse Spark.")
        return _Configuration(AdlaCompute, resource_group=resource_group, account_name=account_name,
                              resource_id=resource_id, **kwargs)

    def _provider(self, config: dict[str, Any]) -> str | None:
        return f"Microsoft.DataLakeAnalytics/accounts/{config.get('account_name') or self.name}"
