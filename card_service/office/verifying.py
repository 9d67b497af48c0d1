"""The read-side use cases: verify a record or presentation, sign a sample record, look up a
permit with its history, the trust list."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from card_service.record import VerificationResult, Verifier, sign_record
from card_service.record.endorsement import ENDORSEMENTS_MAX_BYTES
from card_service.record.issuer_signed import RECORD_MAX_BYTES
from card_service.record.sample import synthetic_applicant
from card_service.register.views import PermitHistory, permit_history
from keys.fsutil import UnsafePathError, write_public_file
from keys.trust import TrustList, load_trust_dir

from .core import OfficeCore
from .errors import StorageError, TrustUnavailable
from .results import SampleRecord

__all__ = ["ENDORSEMENTS_MAX_BYTES", "RECORD_MAX_BYTES", "VerifyingUseCases", "write_output"]


class VerifyingUseCases(OfficeCore):
    """Use cases that read (mixed into :class:`~.office.Office`)."""

    def trust(self, directory: Path | None = None) -> TrustList:
        """The trust list in ``directory`` (written by ``export_trust``), else the local one.

        No local keys is :class:`TrustUnavailable`; an unreadable or forged trust directory
        stays its :class:`~keys.errors.KeyStoreError` / ``SignerValidationError``.
        """
        if directory is not None:
            return load_trust_dir(directory)
        if self._trust is None and not self.key_manager().initialised():
            raise TrustUnavailable("no --trust DIR given and no local keys to trust")
        return self.trust_list()

    def verify_record(
        self,
        record: bytes,
        now: dt.datetime,
        *,
        endorsements: bytes = b"",
        trust: TrustList | None = None,
    ) -> VerificationResult:
        """Verify a record or presentation (CBOR IssuerSigned, at most
        :data:`RECORD_MAX_BYTES`) and its endorsements against ``trust`` (default: the
        local trust list).  A forged or expired record is the result's verdict."""
        trust = trust if trust is not None else self.trust()
        return Verifier(trust).verify(record, now=now, endorsements=endorsements)

    def sample_record(
        self, out: Path, now: dt.datetime, *, seed: int | None = None
    ) -> SampleRecord:
        """Sign a record for a synthetic applicant with the current document signer and
        write it to ``out`` (0600, never through a link).  Its card key is generated and
        discarded: the sample cannot answer a card challenge."""
        issuer = self.issuer(now)
        card_key = ec.generate_private_key(ec.SECP256R1()).public_key()
        record = sign_record(
            synthetic_applicant(now, seed=seed),
            card_key=card_key,
            signer_key=issuer.signer_key,
            signer_chain=issuer.signer_chain,
            now=now,
        )
        write_output(out, record)
        return SampleRecord(out, len(record), issuer.signer_id)

    def permit_history(self, number: str, now: dt.datetime) -> PermitHistory:
        """Permit ``number``: state, effective state, replacement, revocation, years of
        residence and the endorsement window at ``now`` (no personal data)."""
        with self.database("cannot read the register ({name})"):
            return permit_history(self.reader_register(), number, now)


def write_output(path: Path, data: bytes) -> None:
    """Write ``data`` to the file the user named (0600, never through a link or into a
    fifo, device or directory); failures are one-line :class:`StorageError`."""
    try:
        write_public_file(path, data)
    except UnsafePathError:
        raise
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror}") from None
