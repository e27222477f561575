"""The hub: the storage through which every zeb process talks (see `base.Hub`).

`LocalHub` is imported here; `HfHub` lives in `infra.hub.hf` and is imported only when it is used
(by `infra.settings.make_hub`), so a local run never loads `huggingface_hub`.
"""

from infra.hub.base import (
    REPOS,
    Content,
    FileInfo,
    Hub,
    HubAuthError,
    HubError,
    HubNotFoundError,
    HubUnavailableError,
    Repo,
    check_path,
    delete,
    write,
)
from infra.hub.local import LocalHub
from infra.hub.retry import CommitBudget, RetryPolicy

__all__ = [
    "REPOS",
    "CommitBudget",
    "Content",
    "FileInfo",
    "Hub",
    "HubAuthError",
    "HubError",
    "HubNotFoundError",
    "HubUnavailableError",
    "LocalHub",
    "Repo",
    "RetryPolicy",
    "check_path",
    "delete",
    "write",
]
