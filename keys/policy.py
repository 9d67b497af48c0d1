"""The PKI policy fixed at ``permit keys init``: names, algorithm and periods, all checked.

Kept apart from the certificate profiles (:mod:`keys.profiles`, which re-exports
:class:`PkiPolicy`): the checks are input validation of what an operator types (``permit keys
init --city ...``) and of what the registry stores, and fail as :class:`InvalidPolicy`, an
expected failure (a ``PermitError`` that is also a ``ValueError``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, TypeGuard

from .errors import InvalidPolicy
from .store import Algorithm

__all__ = [
    "MAX_CITY_LENGTH",
    "MAX_CRL_URL_LENGTH",
    "MAX_ORGANISATION_LENGTH",
    "MAX_PERIOD_DAYS",
    "PkiPolicy",
]

#: X.520 upper bound of commonName and organizationName (RFC 5280 ub-common-name etc.).
_NAME_MAX = 64
#: The longest CN built from city (the audit signer's " Residence Permit Audit Signer 9999" is
#: shorter).
_SIGNER_CN_SUFFIX = " Residence Permit Document Signer 9999"
#: Longest city name: the document signer CN built from it must fit in 64 characters.
MAX_CITY_LENGTH = _NAME_MAX - len(_SIGNER_CN_SUFFIX)
MAX_ORGANISATION_LENGTH = _NAME_MAX
#: Upper bound of every period (100 years): keeps validity dates far from datetime's year 9999.
MAX_PERIOD_DAYS = 36525
MAX_CRL_URL_LENGTH = 1024
_CRL_URL_SCHEMES = ("http://", "https://", "ldap://")
_PERIODS = (
    "root_validity_days",
    "signing_window_days",
    "permit_validity_days",
    "crl_validity_days",
    "audit_signing_window_days",
)
_TEXTS = {"city": MAX_CITY_LENGTH, "organisation": MAX_ORGANISATION_LENGTH}


def _is_int(value: object) -> TypeGuard[int]:
    """An int that is not a bool (JSON ``true`` is not a number of days)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class PkiPolicy:
    """Names, algorithms and periods; fixed in the registry at ``permit keys init``.

    Every field is checked on construction; a bad value raises :class:`InvalidPolicy` (a
    ``ValueError`` too) naming the field, so a policy can always be turned into certificates
    and CRLs.
    """

    city: str = "Example City"
    organisation: str = "Example Issuing Authority"
    country: str = "CN"
    algorithm: Algorithm = Algorithm.ECDSA_P256
    root_validity_days: int = 20 * 365
    signing_window_days: int = 90
    permit_validity_days: int = 5 * 365 + 1
    crl_validity_days: int = 30
    crl_refresh_margin_days: int = 7
    crl_url: str | None = None
    #: Signing window (and certificate validity) of each audit signer.
    audit_signing_window_days: int = 365

    def __post_init__(self) -> None:
        for name, limit in _TEXTS.items():
            value = getattr(self, name)
            if not isinstance(value, str):
                raise InvalidPolicy(f"{name} must be a string")
            if not value.strip():
                raise InvalidPolicy(f"{name} must not be empty")
            if len(value) > limit:
                raise InvalidPolicy(f"{name} must be at most {limit} characters")
            if not value.isprintable():
                raise InvalidPolicy(f"{name} must not contain control characters")
        country = self.country
        if not (
            isinstance(country, str)
            and len(country) == 2
            and country.isascii()
            and country.isalpha()
        ):
            raise InvalidPolicy("country must be a two-letter ISO 3166 code")
        if not isinstance(self.algorithm, Algorithm):
            raise InvalidPolicy("algorithm must be one of " + ", ".join(a.value for a in Algorithm))
        for name in _PERIODS:
            value = getattr(self, name)
            if not _is_int(value):
                raise InvalidPolicy(f"{name} must be an integer number of days")
            if not 1 <= value <= MAX_PERIOD_DAYS:
                raise InvalidPolicy(f"{name} must be 1-{MAX_PERIOD_DAYS} days")
        margin = self.crl_refresh_margin_days
        if not _is_int(margin):
            raise InvalidPolicy("crl_refresh_margin_days must be an integer number of days")
        if not 0 <= margin < self.crl_validity_days:
            raise InvalidPolicy("crl_refresh_margin_days must be below crl_validity_days")
        url = self.crl_url
        if url is not None and not (
            isinstance(url, str)
            and len(url) <= MAX_CRL_URL_LENGTH
            and url.isascii()
            and url.isprintable()
            and not any(c.isspace() for c in url)
            and url.lower().startswith(_CRL_URL_SCHEMES)
        ):
            raise InvalidPolicy(
                f"crl_url must be an http(s) or ldap URL of at most {MAX_CRL_URL_LENGTH} "
                "ASCII characters without spaces"
            )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["algorithm"] = self.algorithm.value
        return data

    @classmethod
    def from_json(cls, data: object) -> PkiPolicy:
        """The policy stored in the registry; :class:`InvalidPolicy` naming the field if a
        value has the wrong JSON type (``true`` is not a number) or is out of range."""
        if not isinstance(data, dict):
            raise InvalidPolicy("policy must be a JSON object")
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if f.name in _TEXTS or f.name == "country":
                ok = isinstance(value, str)
            elif f.name == "crl_url":
                ok = value is None or isinstance(value, str)
            elif f.name == "algorithm":
                ok = isinstance(value, str)
            else:
                ok = _is_int(value)
            if not ok:
                raise InvalidPolicy(f"policy field {f.name} has the wrong type")
            values[f.name] = value
        values["algorithm"] = Algorithm.parse(values.get("algorithm", cls.algorithm.value))
        return cls(**values)
