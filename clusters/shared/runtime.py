"""A container runtime's refusal of a command it cannot start, in the words kubectl
prints on kind (containerd 2 and runc, "Internal error occurred" twice), so that every
backend answers an exec of a command the pod lacks alike: exit 1, this line on stderr.
The API server sends it as the exec stream's closing Status (clusters/kube/api.py);
the local mesh and the in-memory cluster write it themselves."""

from __future__ import annotations

import secrets

NOT_IN_PATH = "executable file not found in $PATH"
REFUSED_EXIT_CODE = 1  # kubectl's own exit: the command never ran


def exec_refusal(command: str, cause: str = NOT_IN_PATH) -> str:
    """The API server's message for ``command`` (``cause``: why runc could not start it;
    a 64-hex exec id, as containerd's)."""
    return (
        "Internal error occurred: Internal error occurred: error executing command in "
        f'container: failed to exec in container: failed to start exec "{secrets.token_hex(32)}"'
        ": OCI runtime exec failed: exec failed: unable to start container process: exec: "
        f'"{command}": {cause}'
    )


def kubectl_error(message: str) -> str:
    """kubectl's stderr for a refused exec."""
    return f"error: {message}\n"
