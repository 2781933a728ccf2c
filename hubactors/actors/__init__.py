"""The actor runtime: mailboxes, one-shot replies, supervision events and supervisors.

It knows nothing of LLMs; the hub's deployment actors are built on it.
"""

from hubactors.actors._child import ChildInfo, ChildSpec, RestartStrategy, RestartType
from hubactors.actors._errors import (
    ActorError,
    ActorStoppedError,
    AskTimeoutError,
    MailboxFullError,
    SupervisorEscalation,
)
from hubactors.actors._events import (
    ChildExited,
    ChildRestarting,
    ChildStarted,
    EventBus,
    ExitReason,
    SupervisionEvent,
    SupervisorEscalated,
    SupervisorStopped,
)
from hubactors.actors._mailbox import ActorRef, Mailbox
from hubactors.actors._reply import Reply
from hubactors.actors._supervisor import Supervisor

__all__ = [
    "ActorError",
    "ActorRef",
    "ActorStoppedError",
    "AskTimeoutError",
    "ChildExited",
    "ChildInfo",
    "ChildRestarting",
    "ChildSpec",
    "ChildStarted",
    "EventBus",
    "ExitReason",
    "Mailbox",
    "MailboxFullError",
    "Reply",
    "RestartStrategy",
    "RestartType",
    "SupervisionEvent",
    "Supervisor",
    "SupervisorEscalated",
    "SupervisorEscalation",
    "SupervisorStopped",
]
