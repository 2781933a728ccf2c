"""A deployment at run time: its provider actor and the state that outlives the actor's restarts."""

from hubactors.deployment._actor import ProviderActor
from hubactors.deployment._state import (
    CompleteCall,
    DeploymentState,
    ProviderCall,
    StreamCall,
    close_events,
    fail_unserved,
)

__all__ = [
    "CompleteCall",
    "DeploymentState",
    "ProviderActor",
    "ProviderCall",
    "StreamCall",
    "close_events",
    "fail_unserved",
]
