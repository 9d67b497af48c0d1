"""The city's register of record: applicants, applications, permits, cards, endorsements,
revocations and API clients on SQLite or PostgreSQL (see docs/register.md).

Import the API from the submodules (:mod:`.service`, :mod:`.db`, :mod:`.permit_numbers`,
:mod:`.eligibility`, :mod:`.residence`); this package module stays import-light because the
audit package uses :mod:`.types`.
"""
