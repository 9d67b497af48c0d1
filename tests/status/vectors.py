"""Published test vectors of draft-ietf-oauth-status-list (Token Status List).

Source and provenance (read this before editing a byte):

* Appendix "Test vectors for Status List encoding" (Appendix C in draft-10 to draft-12; the
  same text in the editor's copy, draft-ietf-oauth-status-list-latest): "All values that are
  not mentioned for the examples below can be assumed to be 0 (VALID). All examples are
  initialized with a size of 2^20 entries."  C.1 "1 bit Status List" and C.2 "2 bit Status
  List": the statuses below are copied from the draft's text.  The draft includes the CBOR
  hex from its example files (``examples/status_list_encoding1_long_cbor``,
  ``..._encoding2_long_cbor``); those hex strings were taken from copies of the example files
  in independent implementations' test suites (Java, Kotlin, Rust, TypeScript; identical),
  not from this project's encoder, and the JSON ``lst`` values (base64url) come from the
  same appendix, so each vector is checked against two representations.
* Section "Compressed Byte Array" (4.1): the 16-entry 1-bit example (byte array b9 a3) and
  the 12-entry 2-bit example (c9 44 f9), with their JSON ``lst`` and the CBOR example of
  section "Status List in CBOR Format".
* Section "Status List Token in CWT Format": the payload (CWT claims) of the draft's
  non-normative CWT example (its signature is made with the draft's example key and differs
  between revisions, so only the claims are used).
"""

from __future__ import annotations

SIZE = 2**20
INDICES = (0, 1993, 25460, 159495, 495669, 554353, 645645, 723232, 854545, 934534, 1000345)

#: C.1: status[i] = 0b1 at every listed index.
STATUSES_1BIT = {i: 1 for i in INDICES}
CBOR_1BIT = (
    "a2646269747301636c737458bd78daeddc010dc0200c0041a88249400ad2903e0f4bba00bd93f002beb7"
    "a2a2010000a91e0900000000000000000000000000000080729604000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000005c6f4800000000000000fc2c2400000000"
    "00000000000000be1b12000000000000000000ecaa4b000000000000000000000000000000009b0b0900"
    "000000000000000038de9400000000000000002a30cc010000000080642f0bd8011b"
)
JSON_LST_1BIT = (
    "eNrt3AENwCAMAEGogklACtKQPg9LugC9k_ACvreiogEAAKkeCQAAAAAAAAAAAAAAAAAAAIBylgQAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAXG9IAAAAAAAAAPwsJAAAAAAAAAAAAAAAvhsSAAAA"
    "AAAAAAAA7KpLAAAAAAAAAAAAAAAAAAAAAJsLCQAAAAAAAAAAADjelAAAAAAAAAAAKjDMAQAAAACAZC8L2AEb"
)

#: C.2: 0b01, 0b10, 0b01, 0b11, 0b01, 0b01, 0b10, 0b01, 0b01, 0b10, 0b11 at the indices.
STATUSES_2BIT = dict(zip(INDICES, (1, 2, 1, 3, 1, 1, 2, 1, 1, 2, 3), strict=True))
CBOR_2BIT = (
    "a2646269747302636c737459013d78daeddb310d00211000412ea1a04004fe5520ed357c28c81d3312b6"
    "df68bc65480000000000406e210100000000000000000000000000000000000000000000000000000000"
    "00000040795b020000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000080f4ba0400000000000000000000000000406d764a000000000000000000000000000000000000"
    "000000e0922101000000000000000000000000000000000000fc13120000000000000000000000000000"
    "0000000000000000000000000000000000c0912e01000000000000000000000000000000000000c07d4b"
    "02000000000000000000000000000000a8614a0000000000000000000000406a1fcd60010c"
)
JSON_LST_2BIT = (
    "eNrt2zENACEQAEEuoaBABP5VIO01fCjIHTMStt9ovGVIAAAAAABAbiEBAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAEB5WwIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAID0ugQAAAAAAAAAAAAAAAAAQG12SgAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAOCSIQEAAAAAAAAAAAAAAAAAAAAAAAD8ExIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAwJEuAQAAAAAAAAAAAAAAAAAAAAAAAMB9SwIAAAAAAAAAAAAAAAAAAACoYUoAAAAAAAAAAAAAAEBqH81g"
    "AQw"
)

#: 4.1: 16 statuses, 1 bit.
SMALL_1BIT = (1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1)
SMALL_1BIT_BYTES = "b9a3"
SMALL_1BIT_JSON_LST = "eNrbuRgAAhcBXQ"
SMALL_1BIT_CBOR = "a2646269747301636c73744a78dadbb918000217015d"
#: 4.1: 12 statuses, 2 bits.
SMALL_2BIT = (1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3)
SMALL_2BIT_BYTES = "c944f9"
SMALL_2BIT_JSON_LST = "eNo76fITAAPfAgc"

#: The claims (COSE_Sign1 payload) of the draft's CWT example: sub, iat, exp, ttl, status_list.
CWT_EXAMPLE_PAYLOAD = (
    "a502782168747470733a2f2f6578616d706c652e636f6d2f7374617475736c697374732f31061a648c5bea"
    "041a8898dfea19fffe19a8c019fffda2646269747301636c73744a78dadbb918000217015d"
)
CWT_EXAMPLE_PROTECTED = "a2012610781a6170706c69636174696f6e2f7374617475736c6973742b637774"
