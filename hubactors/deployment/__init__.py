"""A deployment at run time: its provider actor, the state that outlives the actor's
restarts, and the client the hub calls it through (each attempt under a lease)."""

from hubactors.deployment._actor import ProviderActor
from hubactors.deployment._client import DeploymentClient, UpstreamStream
from hubactors.deployment._lease import Lease
from hubactors.deployment._state import (
    Admit,
    DeploymentObserver,
    DeploymentState,
    fail_unserved,
)

__all__ = [
    "Admit",
    "DeploymentClient",
    "DeploymentObserver",
    "DeploymentState",
    "Lease",
    "ProviderActor",
    "UpstreamStream",
    "fail_unserved",
]
