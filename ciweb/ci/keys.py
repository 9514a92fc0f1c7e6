"""Per-project keys: an RSA key pair for secrets and an SSH key pair, made with ``cryptography``.

The private halves are stored in ``project_keys`` and never returned by any read function here
or elsewhere; the read functions give the public halves only, as Zuul's ``key/{p}.pub`` and
``project-ssh-key/{p}.pub`` do.
"""

from __future__ import annotations

import dataclasses
import logging

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from ciweb.ci.errors import NotFound
from ciweb.ci.models import ProjectKey
from ciweb.ci.queries import find_project
from ciweb.ci.store import Store, tenant_id, utcnow

LOG = logging.getLogger(__name__)

SSH_KEY_BITS = 2048  # Zuul's project SSH keys are 2048-bit RSA
_PUBLIC_EXPONENT = 65537


@dataclasses.dataclass(frozen=True, repr=False)
class KeyMaterial:
    """A project's freshly generated keys (PEM / OpenSSH text); ``repr`` hides everything."""

    secrets_private_pem: str
    secrets_public_pem: str
    ssh_private: str
    ssh_public: str


def generate(bits: int = 4096, ssh_bits: int = SSH_KEY_BITS) -> KeyMaterial:
    """Generate a secrets key pair and an SSH key pair.

    :param bits: RSA size of the secrets key (Zuul uses 4096; tests use 2048).
    :param ssh_bits: RSA size of the SSH key.
    """
    secrets = rsa.generate_private_key(public_exponent=_PUBLIC_EXPONENT, key_size=bits)
    ssh = rsa.generate_private_key(public_exponent=_PUBLIC_EXPONENT, key_size=ssh_bits)
    return KeyMaterial(
        secrets_private_pem=secrets.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        # SubjectPublicKeyInfo PEM: "-----BEGIN PUBLIC KEY-----", what `openssl pkeyutl` reads.
        secrets_public_pem=secrets.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        ssh_private=ssh.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode(),
        ssh_public=ssh.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
        + "\n",
    )


def key_row(project_id: int, material: KeyMaterial) -> ProjectKey:
    """Return the ``project_keys`` row that stores *material* for the project *project_id*."""
    return ProjectKey(
        project_id=project_id,
        secrets_private_pem=material.secrets_private_pem,
        secrets_public_pem=material.secrets_public_pem,
        ssh_private=material.ssh_private,
        ssh_public=material.ssh_public,
        created=utcnow(),
    )


def ensure_project_keys(store: Store, tenant: str, project: str) -> bool:
    """Give *project* its keys if it has none yet; return whether keys were created.

    The keys are generated outside the write transaction (a 4096-bit key takes about a second)
    so that the database lock is held only for the insert.

    :raises NotFound: "Unknown tenant" or "Unknown project".
    """
    with store.read() as session:
        project_id = find_project(session, tenant_id(session, tenant), project).id
        if session.get(ProjectKey, project_id) is not None:
            return False
    material = store.offload(generate, store.key_bits)
    with store.transaction() as session:
        if session.get(ProjectKey, project_id) is not None:
            return False  # another writer got there first
        session.add(key_row(project_id, material))
    LOG.info("generated keys of project %s in tenant %s", project, tenant)
    return True


def _public(store: Store, tenant: str, project: str, column: str) -> str:
    with store.read() as session:
        project_id = find_project(session, tenant_id(session, tenant), project).id
        value = session.scalar(
            select(getattr(ProjectKey, column)).where(ProjectKey.project_id == project_id)
        )
    if value is None:
        raise NotFound("Project has no key")
    return str(value)


def public_key(store: Store, tenant: str, project: str) -> str:
    """Return the PEM public secrets key of a project (``key/{project}.pub``).

    :raises NotFound: "Unknown tenant", "Unknown project" or when it has no keys.
    """
    return _public(store, tenant, project, "secrets_public_pem")


def ssh_public_key(store: Store, tenant: str, project: str) -> str:
    """Return the ``ssh-rsa AAAA...`` public SSH key of a project (``project-ssh-key``).

    :raises NotFound: "Unknown tenant", "Unknown project" or when it has no keys.
    """
    return _public(store, tenant, project, "ssh_public")
